package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"podctl/datadir"
	"podctl/events"
	"podctl/lifecycle"
	"podctl/stage0"
)

// start prepares the file's pod, starts it in the background and waits
// for it to be ready. A pod that does not become ready is stopped and
// removed: nothing is left half started.
func (r *run) start(pl *plan, a Action, replaced string) Action {
	p, err := stage0.Prepare(r.c, pl.opts)
	if err != nil {
		return r.fail(a, fmt.Errorf("%s: %w", pl.pod.File, err))
	}
	uuid := p.UUID
	err = p.ToPrepared()
	p.Close()
	if err != nil {
		return r.fail(a, fmt.Errorf("%s: pod %s: %w", pl.pod.File, uuid, err))
	}
	a.UUID = uuid
	if err := r.startDetached(pl, uuid); err != nil {
		r.discard(uuid)
		return r.fail(a, fmt.Errorf("%s: pod %s did not start: %w", pl.pod.File, uuid, err))
	}
	msg := "from " + pl.pod.File
	if replaced != "" {
		msg += ", replacing pod " + replaced
	}
	if p, err := r.c.OpenPod(uuid); err == nil {
		p.Event(events.Event{Type: events.Applied, Message: msg})
		p.Close()
	}
	return a
}

// discard stops and removes a pod apply started that did not become
// ready. Its errors are the start's to report: this is cleanup.
func (r *run) discard(uuid string) {
	if _, err := stage0.Stop(r.c, uuid, true, 0); err != nil && !errors.Is(err, stage0.ErrAlreadyStopped) {
		r.c.Warn(fmt.Errorf("stopping pod %s that did not start: %w", uuid, err))
	}
	if _, err := stage0.Remove(r.c, uuid); err != nil && !errors.Is(err, lifecycle.ErrNotFound) {
		r.c.Warn(fmt.Errorf("removing pod %s that did not start: %w: podctl gc removes it", uuid, err))
	}
}

// startDetached runs `podctl run-prepared` for the pod in a session of its
// own, so that the pod outlives apply and no terminal's hangup reaches it,
// with its output in DATA/apply/NAME.log, and waits until the pod is
// ready. The stage1 is podctl itself, as for `podctl run`; `run --detach`
// can take this function's place once podctl has it.
func (r *run) startDetached(pl *plan, uuid string) error {
	logPath := filepath.Join(r.c.DataDir, datadir.ApplyDir, pl.pod.Name+".log")
	// Not durable: the output of a stage1, like an app's log.
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", logPath, err)
	}
	defer out.Close()
	args := []string{"--dir", r.c.DataDir}
	if r.c.Debug {
		args = append(args, "--debug")
	}
	args = append(args, "run-prepared", "--restart="+pl.restart, "--restart-backoff="+pl.backoff.String(), "--ready="+pl.ready, uuid)
	cmd := exec.Command(r.opts.Exe, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", r.opts.Exe, err)
	}
	// Reaped while apply runs, so that a stage1 that fails at once is
	// seen at once; once apply exits, init adopts it.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.ReadyTimeout)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	res, err := stage0.Wait(ctx, r.c, []string{uuid}, stage0.WaitReady)
	if err == nil && len(res) == 1 && res[0].Err == nil {
		return nil
	}
	if len(res) == 1 && res[0].Err != nil {
		err = res[0].Err
	}
	if r.endedReady(uuid) {
		// A job: it was ready, and has already ended as its restart
		// policy let it.
		return nil
	}
	select {
	case werr := <-exited:
		if werr == nil {
			werr = errors.New("it exited")
		}
		return fmt.Errorf("its stage1 ended (%v): %s", werr, lastLine(logPath))
	default:
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("not ready after %s (see %s)", r.opts.ReadyTimeout, logPath)
	}
	return fmt.Errorf("%w (see %s)", err, logPath)
}

// endedReady reports whether the pod became ready and has ended since.
func (r *run) endedReady(uuid string) bool {
	p, err := r.c.OpenPod(uuid)
	if err != nil {
		return false
	}
	defer p.Close()
	return p.IsAfterRun() && p.IsReady()
}

// lastLine is the last line of a stage1's output, which says why it
// failed. An app's output may be in it too: it is shown, never acted on.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no output"
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	last := strings.TrimSpace(string(lines[len(lines)-1]))
	if last == "" {
		return "no output"
	}
	return strings.TrimPrefix(last, "podctl: ")
}
