// Package systemd is the stage1 flavor that runs a pod the way rkt did:
// systemd-nspawn boots the host's systemd as the pod's PID 1, in the pod's
// own mount, PID, UTS, IPC and network namespaces, and each app is a
// systemd service, whose main process (podctl's exec helper) enters the
// app's tree, limits and user and becomes the app. The apps share the
// pod's namespaces; each has its own root.
//
// Four processes make a pod:
//
//	podctl run (stage1)              holds the pod's lock, copies the apps' output
//	  └─ podctl stage1 systemd-boot  mounts the stage1 root in a private mount
//	       │                          namespace; kills the pod if nspawn or
//	       │                          stage1 dies
//	       └─ systemd-nspawn
//	            └─ systemd (PID 1)   runs the app services and their hooks
//
// Exit statuses come from the services' ExecStopPost hook, which also ends
// the pod (systemctl exit) when the first app fails or the last one ends.
// Each app's stdout and stderr are FIFOs in its folder that the first
// process copies to the caller and to the app's log.
package systemd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/events"
	"podctl/internal/fsutil"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
	"podctl/stage1/logs"
)

// Flavor is the systemd flavor.
type Flavor struct {
	kit.CgroupControl
	// Self is the podctl binary to re-execute for helpers.
	Self string
}

const (
	helperBoot = "systemd-boot"
	envSpecs   = "PODCTL_APP_SPECS"
)

// Name is "systemd".
func (f *Flavor) Name() string { return "systemd" }

// nspawnPath finds systemd-nspawn.
func nspawnPath() (string, error) {
	p, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		return "", errors.New("the systemd flavor needs systemd-nspawn: install it (apt-get install systemd-container) or choose --stage1=fly")
	}
	return p, nil
}

// Available reports whether systemd-nspawn and systemd are installed.
func (f *Flavor) Available() error {
	if _, err := nspawnPath(); err != nil {
		return err
	}
	if _, err := os.Stat("/usr/lib/systemd/systemd"); err != nil {
		return errors.New("the systemd flavor boots the host's systemd, and /usr/lib/systemd/systemd is missing: install systemd or choose --stage1=fly")
	}
	return nil
}

// Helpers has the boot helper and the units' hooks.
func (f *Flavor) Helpers() map[string]func([]string) int {
	return map[string]func([]string) int{
		helperBoot:   bootMain,
		hookExec:     hookExecMain,
		hookExited:   hookExitedMain,
		helperUserns: kit.UsernsHolderMain,
		// The event handlers' hooks (handlers.go).
		hookHandler:     hookHandlerMain,
		hookHandlerExec: hookHandlerExecMain,
		helperInPod:     inPodMain,
	}
}

// Run boots the pod and waits for it.
func (f *Flavor) Run(rc *stage1.RunContext) (int, error) {
	// The pod's systemd makes its cgroups below ours in the hierarchies it
	// uses, so the pod has a cgroup in each.
	pod, err := kit.Begin(rc, kit.Prologue{Confined: true, Also: append([]string{"name=systemd"}, kit.MutableControllers(rc.Manifest)...)})
	if err != nil {
		return 0, err
	}
	defer pod.End()
	trace.Mark("cgroups made")
	r := &boot{rc: rc, pod: pod, specs: pod.Specs, saidReady: make(chan int, len(pod.Specs)),
		control: make(chan func()), done: make(chan struct{}), mutable: lifecycle.IsMutable(rc.Manifest)}
	if err := r.setUp(); err != nil {
		return 0, err
	}
	if err := r.setUpNetwork(); err != nil {
		return 0, err
	}
	trace.Mark("pod set up")
	if err := r.start(f.Self); err != nil {
		return 0, err
	}
	trace.Mark("boot helper started")
	if r.mutable {
		stop, err := serveAppControl(r, f.Self)
		if err != nil {
			// The pod runs, but no app can be added to it: it is stopped.
			rc.Warn(err)
			r.cmd.Process.Signal(syscall.SIGTERM)
		} else {
			defer stop()
		}
	}
	r.watch()
	trace.Mark("boot helper ended")
	return r.finish(), nil
}

// boot is a pod of the systemd flavor being run: the boot helper that
// runs nspawn, and what stage1 watches while the pod's systemd runs the
// apps.
type boot struct {
	rc    *stage1.RunContext
	pod   *kit.Pod
	specs []kit.AppSpec
	// console is the console log, nspawn's output.
	console *os.File
	// saidReady gets the index of each app that sends READY=1.
	saidReady chan int
	cmd       *exec.Cmd
	waitErr   error
	end       kit.Ending
	// lostHooks is set once an exit hook was found killed: the pod is
	// being shut down for it.
	lostHooks bool
	exits     *exitWatch
	hooks     *hookWatch
	// hostname and net are the pod's host name and podSpec.Net; waitNet,
	// if set, waits for its networks (kit.PodNetwork.AttachBeside).
	hostname, net string
	waitNet       func() error
	// restarts are the restart counts already announced; appReady the
	// apps that said READY=1; notified is set once the pod is ready.
	restarts []int
	appReady []bool
	notified bool
	// A mutable pod's app verbs (mutable.go) change specs, restarts and
	// appReady through control, in watch's goroutine; done is closed
	// when watch returns.
	mutable bool
	control chan func()
	done    chan struct{}
	// booted is set once a mutable pod's systemd has booted: until then
	// the pod, which may have no app to wait for, is not ready.
	booted atomic.Bool
}

// setUp makes what the pod's units and hooks use before it boots: the
// FIFOs of the apps' output (and input), the console log, the task for
// the hooks and the apps' notify sockets. Each is undone when the pod
// ends (kit.Pod.End), in the reverse order.
func (r *boot) setUp() error {
	rc := r.rc
	if !rc.Interactive {
		fifos, copiers, err := startLogging(rc.Pod, r.specs, rc.Warn)
		if err != nil {
			return err
		}
		r.pod.Defer(func() error {
			// nspawn is gone, and every writer with it: what is in the
			// FIFOs now is all there will be. The deadline makes each
			// copier drain its FIFO and stop.
			for _, f := range fifos {
				f.SetReadDeadline(time.Now())
			}
			copiers.Wait()
			for _, f := range fifos {
				f.Close()
			}
			return nil
		})
		if rc.Task.Stdin {
			if err := feedStdin(rc.Pod.FilePath(lifecycle.AppFile(r.specs[0].Name, lifecycle.AppStdinFIFO)), rc.Warn); err != nil {
				return err
			}
		}
	}
	// The exit hooks' own folder (bindPod).
	if err := os.MkdirAll(rc.Pod.FilePath(lifecycle.DirHooks), 0o700); err != nil {
		return err
	}
	console, err := os.OpenFile(rc.Pod.FilePath(lifecycle.FileConsoleLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	r.console = console
	r.pod.Defer(console.Close)
	// The units' hooks read the restart policy in the pod.
	tb, err := json.Marshal(rc.Task)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(rc.Pod.FilePath(lifecycle.FileTask), tb, 0o600, false); err != nil {
		return err
	}
	// With --ready=notify, each app's READY=1 comes to stage1 itself, on a
	// socket the boot helper binds into the app's root: heard even from a
	// sender that exits at once, which the pod's systemd would drop.
	if rc.Task.ReadyNotify {
		for i := range r.specs {
			c, err := kit.ListenNotify(rc.Pod, &r.specs[i], i, r.saidReady)
			if err != nil {
				return err
			}
			r.pod.Defer(c.Close)
		}
	}
	return nil
}

// setUpNetwork makes the pod's network namespace and joins it to the
// pod's networks, when it has some, and writes the files every app sees.
// nspawn joins that namespace; the networks are released and the
// namespace removed when the pod ends.
func (r *boot) setUpNetwork() error {
	pn, err := kit.OpenNetwork(r.rc)
	if err != nil {
		return err
	}
	r.hostname = pn.Hostname
	if err := pn.Files(r.specs); err != nil {
		return err
	}
	switch {
	case pn.Spec.Mode == "host":
		r.net = "host"
	case pn.Private():
		netns, err := pn.NewNamespace()
		if err != nil {
			return err
		}
		r.pod.Defer(pn.RemoveNamespace)
		// Beside the boot helper's start and its building of the stage1
		// root; it starts nspawn once the networks are attached.
		r.waitNet = pn.AttachBeside(func() (string, error) { return netns, nil })
		r.pod.Defer(func() error {
			r.waitNet()
			return pn.Detach(false)
		})
		r.net = netns
	case pn.MDS:
		// --net=none: a namespace of podctl's own, with its loopback
		// alone, where the metadata service listens before nspawn joins.
		netns, err := pn.NewNamespace()
		if err != nil {
			return err
		}
		r.pod.Defer(pn.RemoveNamespace)
		r.net = netns
	}
	if pn.MDS {
		return kit.StartMDS(r.pod, r.net)
	}
	return nil
}

// start starts the boot helper (self's), which runs nspawn. If it cannot,
// no app will run: each says so in its status.
func (r *boot) start(self string) error {
	rc := r.rc
	enc, err := json.Marshal(podSpec{Apps: r.specs, Cgroups: r.pod.Group.Dirs, Task: rc.Task, Hostname: r.hostname, Net: r.net, AwaitNetwork: r.waitNet != nil, Mutable: r.mutable})
	if err != nil {
		return err
	}
	cmd := exec.Command(self, stage1.Verb, helperBoot, rc.Pod.Path())
	cmd.Env = append(bootEnv(), envSpecs+"="+string(enc))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, r.console, r.console
	if rc.Interactive {
		// nspawn relays the terminal to the pod's console, the app's tty.
		cmd.Args = append(cmd.Args, "--interactive")
		// nspawn's own messages still go to the console log.
		cmd.Stdin, cmd.Stdout = os.Stdin, os.Stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS,
		Pdeathsig:    parentGone,
	}
	if r.waitNet != nil {
		// Descriptor 4: the network message (kit.SendNetwork).
		nr, nw, err := os.Pipe()
		if err != nil {
			return err
		}
		defer nr.Close()
		cmd.ExtraFiles = []*os.File{nr}
		go func() {
			// A helper that failed before it read it is what says so.
			if err := kit.SendNetwork(nw, r.waitNet); err != nil && !errors.Is(err, syscall.EPIPE) {
				r.rc.Warn(fmt.Errorf("telling the boot helper of the pod's network: %w", err))
			}
		}()
	}
	if err := kit.StartWithErrPipe(cmd); err != nil {
		for _, s := range r.specs {
			r.warnIf(rc.Pod.WriteAppStatus(s.Name, &lifecycle.AppStatus{ExitCode: stage1.ExitStartFailed, Message: "the pod did not start: " + err.Error()}))
		}
		return err
	}
	rc.Debugf("boot helper started as pid %d", cmd.Process.Pid)
	r.cmd = cmd
	return nil
}

// watch waits for the boot helper to end, stopping the pod on a signal
// or when its time is up, and every 20 ms following what the hooks do.
func (r *boot) watch() {
	rc := r.rc
	defer close(r.done)
	sigs := kit.NotifyStop(rc.Interactive)
	defer kit.ReleaseSignals(sigs)
	waited := make(chan error, 1)
	go func() { waited <- r.cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var timeout <-chan time.Time
	if rc.Task.Timeout > 0 {
		timeout = time.After(rc.Task.Timeout)
	}
	r.end = kit.Ending{Timeout: rc.Task.Timeout}
	r.restarts = make([]int, len(r.specs))
	r.appReady = make([]bool, len(r.specs))
	r.exits = &exitWatch{pod: rc.Pod, warn: rc.Warn, seen: map[string]time.Time{}, read: map[string]time.Time{}}
	r.hooks = &hookWatch{pod: rc.Pod, tracking: r.pod.Group.Dirs[0], empty: map[string]time.Time{}}
	for ticks := 1; ; ticks++ {
		select {
		case r.waitErr = <-waited:
			return
		case sig := <-sigs:
			// nspawn turns SIGTERM into a clean shutdown of the pod.
			rc.Debugf("asking the pod to stop on %s", unix.SignalName(sig.(syscall.Signal)))
			r.stop(lifecycle.ReasonCancelled, sig.(syscall.Signal))
		case <-timeout:
			rc.Debugf("the pod's time is up: asking it to stop")
			r.stop(lifecycle.ReasonTimeout, 0)
		case <-tick.C:
			r.follow(ticks)
		case f := <-r.control:
			f()
		}
	}
}

// warnIf gives a failure that does not end the pod to the run's Warn.
func (r *boot) warnIf(err error) {
	if err != nil {
		r.rc.Warn(err)
	}
}

// stop asks the pod to stop for reason (and the signal stage1 got), once:
// to nspawn, a second SIGTERM is no longer a clean shutdown.
func (r *boot) stop(reason string, sig syscall.Signal) {
	if r.end.StopReason != "" {
		return
	}
	r.end.StopReason, r.end.CancelledBy = reason, sig
	if !r.lostHooks {
		r.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// follow is what stage1 does at each tick while the pod runs: record the
// apps' ends (every 100 ms), find exit hooks that were killed (every 2.5
// s: it walks the pod's cgroups for every app still running, and a lost
// hook waits lostAfter anyway), announce restarts and the pod's
// readiness.
func (r *boot) follow(ticks int) {
	rc := r.rc
	if ticks%5 == 0 {
		r.exits.poll(r.specs, r.end.StopReason)
	}
	if ticks%125 == 0 && !r.lostHooks && r.end.StopReason == "" {
		r.endLostHooks()
	}
	restarting := !rc.Task.Restart.Never()
	if restarting && ticks%5 == 0 {
		// The hooks restart apps; the events are stage1's to write.
		for i, s := range r.specs {
			if n := readCount(rc.Pod.FilePath(lifecycle.AppRestartsFile(s.Name))); n > r.restarts[i] {
				r.restarts[i] = n
				rc.Pod.Event(events.Event{Type: events.Restarted, App: s.Name, Message: fmt.Sprintf("restart %d", n)})
			}
		}
	}
	if !r.notified && (!r.mutable || r.booted.Load()) && podReady(rc.Pod, r.specs, rc.Task.ReadyNotify, r.appReady, r.saidReady) {
		r.notified = true
		r.warnIf(kit.MarkReady(rc.Pod))
		kit.NotifyReady(rc.Warn)
		rc.Pod.Event(events.Event{Type: events.Ready})
		r.warnIf(rc.Pod.Note("ready", nil))
		rc.Debugf("all apps started")
	}
}

// endLostHooks ends the pod if the exit hook of an app was killed before
// it recorded the app's end: nothing else would end it. A clean shutdown,
// as for a stop.
func (r *boot) endLostHooks() {
	lost := r.hooks.lost(r.specs, time.Now())
	if len(lost) == 0 {
		return
	}
	r.lostHooks = true
	for _, app := range lost {
		r.rc.Warn(fmt.Errorf("app %s: the exit hook of its service did not run to its end; ending the pod", app))
		if err := recordLost(r.rc.Pod, app); err != nil {
			r.rc.Warn(fmt.Errorf("app %s: %w", app, err))
		}
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
}

// finish records how the pod ended once nspawn is gone, and returns its
// exit code.
func (r *boot) finish() int {
	rc := r.rc
	code, err := podExitCode(rc.Pod, r.specs, r.cmd.ProcessState, r.waitErr, rc.Warn)
	if err != nil {
		if r.end.StopReason == "" {
			// stage1 lives on to record what ended the pod.
			rc.Warn(err)
			r.end.Lost, r.end.LostBy = nspawnEnd(r.cmd.ProcessState, r.waitErr)
			return kit.RecordResult(rc.Pod, 0, r.end, rc.Warn)
		}
		// Stopped while it was still booting: the apps that had not ended
		// (or started) were stopped all the same.
		for _, s := range r.specs {
			if _, serr := os.Stat(rc.Pod.FilePath(lifecycle.AppStatusFile(s.Name))); serr != nil {
				r.warnIf(rc.Pod.WriteAppStatus(s.Name, &lifecycle.AppStatus{ExitCode: 128 + int(syscall.SIGTERM), Signal: "SIGTERM",
					Message: "the pod was stopped before the app had ended", FinishedAt: time.Now()}))
			}
		}
		code = 128 + int(syscall.SIGTERM)
	}
	r.end.Failure = finishStatuses(rc.Pod, r.specs, r.end.StopReason, r.exits, rc.Warn)
	return kit.RecordResult(rc.Pod, code, r.end, rc.Warn)
}

// podReady reports whether every app runs its own command (execed), and,
// with notify, has said READY=1 (on saidReady, noted in ready).
func podReady(p *lifecycle.Pod, specs []kit.AppSpec, notify bool, ready []bool, saidReady <-chan int) bool {
	for {
		select {
		case i := <-saidReady:
			ready[i] = true
			continue
		default:
		}
		break
	}
	for i, s := range specs {
		if notify && !ready[i] {
			return false
		}
		if !execed(p.FilePath(lifecycle.AppDir(s.Name))) {
			return false
		}
	}
	return true
}

// finishStatuses gives each app's recorded status its reason, which the
// units' hook cannot know: an app the pod's shutdown ended was stopped, by
// the pod's time, a signal to stage1, or another app's failure. It
// returns how the first app to fail did.
func finishStatuses(p *lifecycle.Pod, specs []kit.AppSpec, stopReason string, exits *exitWatch, warn func(error)) string {
	firstFailed := readFirstFailure(p)
	failure := ""
	for _, s := range specs {
		st, err := p.AppStatus(s.Name)
		if err != nil {
			continue
		}
		if endReason(st, stopReason, firstFailed, failure != "") {
			failure = kit.FailureMessage(s.Name, st)
		}
		if err := p.WriteAppStatus(s.Name, st); err != nil {
			warn(err)
		}
		exits.record(s.Name, st)
	}
	return failure
}

// readFirstFailure returns the exit code the units' hook recorded for the
// first app to fail for good, "" if none has.
func readFirstFailure(p *lifecycle.Pod) string {
	// Through the pod's directory, without following a link and of a
	// regular file only: with private users the pod's systemd writes the
	// hooks' folder.
	b, err := p.ReadFile(lifecycle.FileFirstFailure)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// endReason gives an app's recorded end (st) its reason, the one the
// other flavors' supervisor gives (kit.Reason), and reports whether
// the app is the first to fail for good (an app with the first failure's
// code, unless one was found already: failureSeen). An app the pod's
// shutdown ended was stopped: by the pod's time, a signal to stage1
// (stopReason), or another app's failure (a first failure recorded).
func endReason(st *lifecycle.AppStatus, stopReason, firstFailed string, failureSeen bool) bool {
	first := !failureSeen && stopReason == "" && st.ExitCode != 0 && strconv.Itoa(st.ExitCode) == firstFailed
	reason := stopReason
	if reason == "" && firstFailed != "" {
		reason = lifecycle.ReasonCancelled
	}
	st.Reason = kit.Reason(st, st.Signal != "" && !first, reason)
	return first
}

// bootEnv is the environment of the boot helper and nspawn: the caller's,
// but for the notify socket, which podctl answers itself once the apps run.
func bootEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	return env
}

// podExitCode applies the exit status rule once nspawn has exited, and
// says why any app failed to start.
func podExitCode(p *lifecycle.Pod, specs []kit.AppSpec, ps *os.ProcessState, waitErr error, warn func(error)) (int, error) {
	for _, s := range specs {
		st, err := p.AppStatus(s.Name)
		if err == nil && st.Message != "" && st.Reason != lifecycle.ReasonOOMKilled {
			if _, err := os.Stat(p.FilePath(lifecycle.AppFile(s.Name, lifecycle.AppStartError))); err == nil {
				// The exec helper said why on the app's stderr already.
				continue
			}
			warn(fmt.Errorf("app %s: %s (see %s)", s.Name, st.Message, p.FilePath(lifecycle.FileConsoleLog)))
		}
	}
	if first := readFirstFailure(p); first != "" {
		return strconv.Atoi(first)
	}
	missing := []string{}
	for _, s := range specs {
		if _, err := os.Stat(p.FilePath(lifecycle.AppStatusFile(s.Name))); err != nil {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	why, sig := nspawnEnd(ps, waitErr)
	last := ""
	if sig == 0 {
		// Why nspawn failed is in its own last lines.
		last = lastLines(p.FilePath(lifecycle.FileConsoleLog), 3)
	}
	return 0, fmt.Errorf("%s before app %s ended; its output is in %s%s",
		why, strings.Join(missing, ", "), p.FilePath(lifecycle.FileConsoleLog), last)
}

// nspawnEnd says how the boot helper (ps, or waitErr if it could not be
// waited for) and its systemd-nspawn ended, and the signal that killed
// either. The helper exits 128+N when nspawn was killed by signal N.
func nspawnEnd(ps *os.ProcessState, waitErr error) (string, syscall.Signal) {
	if ps == nil {
		return fmt.Sprintf("the pod's boot helper could not be waited for (%v)", waitErr), 0
	}
	ws := ps.Sys().(syscall.WaitStatus)
	switch code := ws.ExitStatus(); {
	case ws.Signaled():
		return fmt.Sprintf("the pod's boot helper was killed by %s, and the pod with it", unix.SignalName(ws.Signal())), ws.Signal()
	case code > 128 && code <= 128+64:
		sig := syscall.Signal(code - 128)
		return fmt.Sprintf("the pod's systemd-nspawn was killed by %s, and the pod with it", unix.SignalName(sig)), sig
	default:
		return fmt.Sprintf("the pod's systemd-nspawn exited with %d", code), 0
	}
}

// lastLines returns the last n lines of a file, as ": a | b | c".
func lastLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, " | ")
}

// startLogging makes each app's stdout and stderr FIFOs and copies them to
// the caller and the app's log. The FIFOs are opened read-write, so they
// never read end-of-file while an app restarts its writer; the copying is
// ended by a read deadline once the pod is gone.
func startLogging(p *lifecycle.Pod, specs []kit.AppSpec, warn func(error)) ([]*os.File, *sync.WaitGroup, error) {
	var fifos []*os.File
	copiers := &sync.WaitGroup{}
	for _, s := range specs {
		appDir := p.FilePath(lifecycle.AppDir(s.Name))
		l, err := logs.Open(appDir)
		if err != nil {
			return nil, nil, err
		}
		var mine sync.WaitGroup
		for _, st := range []struct {
			name, fifo string
			tee        io.Writer
		}{{logs.Stdout, lifecycle.AppStdoutFIFO, os.Stdout}, {logs.Stderr, lifecycle.AppStderrFIFO, os.Stderr}} {
			path := filepath.Join(appDir, st.fifo)
			os.Remove(path)
			if err := unix.Mkfifo(path, 0o600); err != nil {
				return nil, nil, fmt.Errorf("making output FIFO of app %s: %w", s.Name, err)
			}
			f, err := os.OpenFile(path, os.O_RDWR|unix.O_NONBLOCK, 0)
			if err != nil {
				return nil, nil, fmt.Errorf("opening output FIFO of app %s: %w", s.Name, err)
			}
			fifos = append(fifos, f)
			mine.Add(1)
			go func(name string, r io.Reader, tee io.Writer) {
				defer mine.Done()
				if err := l.Copy(name, r, tee); err != nil {
					warn(fmt.Errorf("logging %s: %w", name, err))
				}
			}(st.name, &fifoReader{f: f}, st.tee)
		}
		copiers.Add(1)
		go func() {
			mine.Wait()
			l.Close()
			copiers.Done()
		}()
	}
	return fifos, copiers, nil
}

// feedStdin makes the FIFO the first app reads as its standard input and
// copies stage1's standard input into it, closing it at the end, so that
// the app reads end of file when the caller's input ends.
func feedStdin(path string, warn func(error)) error {
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return fmt.Errorf("making the input FIFO of the first app: %w", err)
	}
	go func() {
		// Blocks until the app's service opens it for reading.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			warn(fmt.Errorf("feeding the first app's input: %w", err))
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, os.Stdin); err != nil && !errors.Is(err, syscall.EPIPE) {
			warn(fmt.Errorf("feeding the first app's input: %w", err))
		}
	}()
	return nil
}

// fifoReader reads a FIFO that this process holds open for writing too, so
// it never ends by itself. Once its read deadline has passed, it reads
// what is left without waiting and then ends.
type fifoReader struct {
	f *os.File
}

func (r *fifoReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return n, err
	}
	rc, err := r.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var rerr error
	// Control, not Read: Read would refuse at once for the deadline.
	if err := rc.Control(func(fd uintptr) {
		n, rerr = unix.Read(int(fd), p)
	}); err != nil {
		return 0, err
	}
	if n > 0 {
		return n, nil
	}
	if rerr != nil && rerr != unix.EAGAIN {
		return 0, rerr
	}
	return 0, io.EOF
}

// podSpec is what stage1 hands the boot helper.
type podSpec struct {
	Apps []kit.AppSpec `json:"apps"`
	// Cgroups are the pod's cgroup folders, which nspawn and the pod's
	// systemd go in.
	Cgroups []string `json:"cgroups"`
	// Task is how the pod runs (its readiness, for the units).
	Task stage1.Task `json:"task"`
	// Hostname is the pod's host name.
	Hostname string `json:"hostname"`
	// Net is how nspawn gives the pod its network: "" for a private
	// namespace with loopback only, "host" for the host's, else the path
	// of the namespace stage1 made and attaches.
	Net string `json:"net,omitempty"`
	// AwaitNetwork: nspawn starts once a kit.NetworkMessage on descriptor
	// 4 says the pod's networks are attached.
	AwaitNetwork bool `json:"await_network,omitempty"`
	// Mutable: the pod may start with no app (mutable.go).
	Mutable bool `json:"mutable,omitempty"`
}

// exitWatch records an exited event for each end of an app, which the
// units' hook records in the app's status file inside the pod, where the
// events log is out of reach: stage1 looks for new statuses while the pod
// runs, and for the last ones when it has ended.
type exitWatch struct {
	pod  *lifecycle.Pod
	warn func(error)
	// seen is, for each app, when the last end it recorded happened, and
	// read when its status file last changed.
	seen, read map[string]time.Time
}

// poll records the ends the apps' statuses show that it has not yet, with
// the reason known now: stage1 is stopping the pod for stopReason, if set.
func (w *exitWatch) poll(specs []kit.AppSpec, stopReason string) {
	for _, s := range specs {
		path := w.pod.FilePath(lifecycle.AppStatusFile(s.Name))
		fi, err := os.Stat(path)
		if err != nil || !fi.ModTime().After(w.read[s.Name]) {
			continue
		}
		w.read[s.Name] = fi.ModTime()
		if st, err := w.pod.AppStatus(s.Name); err == nil {
			endReason(st, stopReason, readFirstFailure(w.pod), false)
			w.record(s.Name, st)
		}
	}
}

// record records the exited event of an app's end, once.
func (w *exitWatch) record(app string, st *lifecycle.AppStatus) {
	if !st.FinishedAt.After(w.seen[app]) {
		return
	}
	w.seen[app] = st.FinishedAt
	if err := kit.EndNotice(app, st); err != nil {
		w.warn(err)
	}
	w.pod.Event(events.Event{Type: events.Exited, App: app, ExitCode: &st.ExitCode, Message: st.Reason})
}

// parentGone is the signal the boot helper gets when stage1 dies.
const parentGone = syscall.SIGUSR2

// bootMain runs in the boot helper, in its new mount namespace: it joins
// the pod's cgroups, builds the stage1 root and runs systemd-nspawn. It
// stays nspawn's parent because nspawn does not take the pod's systemd
// with it when it is killed: the helper then kills every process of the
// pod, and does the same if stage1 itself dies (its parent-death signal).
func bootMain(args []string) int {
	trace.Mark("boot helper")
	kit.HelperInit()
	interactive := len(args) == 2 && args[1] == "--interactive"
	if len(args) != 1 && !interactive {
		return kit.HelperFail(errors.New("usage: stage1 " + helperBoot + " POD_DIR [--interactive]"))
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, parentGone)
	p, err := lifecycle.OpenAt(args[0])
	if err != nil {
		return kit.HelperFail(err)
	}
	defer p.Close()
	var pod podSpec
	if err := json.Unmarshal([]byte(os.Getenv(envSpecs)), &pod); err != nil {
		return kit.HelperFail(fmt.Errorf("reading app specs: %w", err))
	}
	// Not for nspawn and the pod: the specs hold the apps' environments.
	os.Unsetenv(envSpecs)
	specs := pod.Apps
	if (len(specs) == 0 && !pod.Mutable) || len(pod.Cgroups) == 0 {
		return kit.HelperFail(errors.New("no apps or no cgroup given"))
	}
	g := &cgroup.Group{Dirs: pod.Cgroups}
	// The first move into a cgroup after a quiet spell waits for an RCU
	// grace period of the kernel (7 to 15 ms on the project's machines),
	// as long as building the stage1 root: both run at once, and nspawn
	// starts once the helper is in. What starts a process of its own
	// (giveUserns) waits first, so that the process is in the pod's
	// cgroups too.
	joined := make(chan error, 1)
	go func() { joined <- g.Join() }()
	join := sync.OnceValue(func() error { return <-joined })
	nspawn, err := nspawnPath()
	if err != nil {
		return kit.HelperFail(err)
	}
	self, err := os.Executable()
	if err != nil {
		return kit.HelperFail(err)
	}
	if len(specs) > 0 && specs[0].Users != nil {
		if err := join(); err != nil {
			return kit.HelperFail(err)
		}
	}
	users, err := giveUserns(specs)
	if err != nil {
		return kit.HelperFail(err)
	}
	uuid := p.UUID
	root, err := buildRoot(p, self, specs, unitOptions{Interactive: interactive, Hostname: pod.Hostname})
	if err != nil {
		return kit.HelperFail(err)
	}
	trace.Mark("stage1 root built")
	if pod.AwaitNetwork {
		f := os.NewFile(kit.ErrPipeFD+1, "network")
		err := kit.ReadNetwork(json.NewDecoder(f))
		f.Close()
		if err != nil {
			return kit.HelperFail(err)
		}
	}
	net := pod.Net
	if users != nil && net != "" && net != "host" {
		if err := enterNetns(net); err != nil {
			return kit.HelperFail(err)
		}
		net = "host"
	}
	if err := join(); err != nil {
		return kit.HelperFail(err)
	}
	trace.Mark("cgroups joined")
	cmd := exec.Command(nspawn, bootArgs(specs, users, root, uuid, pod.Hostname, net, interactive)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Env = nspawnEnv(specs, pod.Mutable)
	if interactive {
		cmd.Stdin = os.Stdin
	}
	if err := cmd.Start(); err != nil {
		return kit.HelperFail(fmt.Errorf("starting systemd-nspawn: %w", err))
	}
	// nspawn and the pod stay in the pod's cgroups; this helper leaves
	// them, so that killing what is left of the pod does not kill it.
	if err := g.Leave(); err != nil {
		cmd.Process.Kill()
		return kit.HelperFail(err)
	}
	kit.HelperStarted()
	trace.Mark("nspawn started")
	return waitNspawn(cmd, g, sigs)
}

// giveUserns gives the apps of a pod with private users a user namespace
// of the pod's mapping (their Userns), through which the boot helper
// shows the pod its files, and returns the pod's private users. A
// mutable pod may start with no app; it has no private users. The
// namespace lives as long as the helper.
func giveUserns(specs []kit.AppSpec) (*stage1.PrivateUsers, error) {
	if len(specs) == 0 || specs[0].Users == nil {
		return nil, nil
	}
	users := specs[0].Users
	if err := checkUsers(users); err != nil {
		return nil, err
	}
	userns, err := podUserns(users)
	if err != nil {
		return nil, err
	}
	for i := range specs {
		specs[i].Userns = userns
	}
	return users, nil
}

// bootArgs are nspawn's arguments for the pod (nspawnArgs), with its
// private users (giveUserns) and the capabilities its apps keep beyond
// the default ones: the pod's systemd and services get them too, and
// each app's exec helper keeps only its own (kit.ExecApp).
func bootArgs(specs []kit.AppSpec, users *stage1.PrivateUsers, root, uuid, hostname, net string, interactive bool) []string {
	argv := append(usersArgs(users), nspawnArgs(root, uuid, hostname, net, interactive)...)
	if more := kit.RetainedBeyondDefault(specs); len(more) > 0 {
		argv = append([]string{"--capability=" + strings.Join(more, ",")}, argv...)
	}
	return argv
}

// nspawnArgs are systemd-nspawn's arguments to boot the stage1 root of
// pod uuid, named host, on the network net (podSpec.Net).
func nspawnArgs(root, uuid, host, net string, interactive bool) []string {
	argv := []string{
		"--quiet",
		"--directory=" + root,
		"--machine=" + hostname(uuid),
		"--hostname=" + host,
		"--console=" + map[bool]string{false: "read-only", true: "interactive"}[interactive],
		"--link-journal=no",
		"--boot",
	}
	switch net {
	case "":
		argv = append(argv, "--private-network")
	case "host":
	default:
		argv = append(argv, "--network-namespace-path="+net)
	}
	argv = append(argv, registration()...)
	if os.Getenv("PODCTL_STAGE1_DEBUG") != "" {
		// The pod's systemd tells all it does, into the console log.
		argv = append(argv, "--setenv=SYSTEMD_LOG_TARGET=console")
	}
	// PID 1's own arguments: no status lines on the console, and, when the
	// console is the caller's terminal, only critical messages.
	level := "warning"
	switch {
	case os.Getenv("PODCTL_STAGE1_DEBUG") != "":
		level = "debug"
	case interactive:
		level = "crit"
	}
	return append(argv, "--", "--show-status=0", "--log-level="+level)
}

// waitNspawn waits for nspawn (cmd) to end, passing stops on, and kills
// what is left of the pod (g) after it, or when stage1 dies. It returns
// the helper's exit code: nspawn's, or 128+N if nspawn was killed by
// signal N, as a shell says it (nspawnEnd reads it so).
func waitNspawn(cmd *exec.Cmd, g *cgroup.Group, sigs <-chan os.Signal) int {
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	for {
		select {
		case <-waited:
			// What nspawn left (the pod's systemd, if nspawn was killed)
			// goes with it.
			if err := g.Kill(cgroup.KillWait); err != nil {
				fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
			}
			if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return cmd.ProcessState.ExitCode()
		case sig := <-sigs:
			if sig == parentGone {
				if err := g.Kill(cgroup.KillWait); err != nil {
					fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
				}
				return stage1.ExitStartFailed
			}
			// nspawn turns SIGTERM into a clean shutdown of the pod.
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
}

// registration chooses nspawn's machined and cgroup options: a host booted
// with systemd gets the pod registered as a machine; elsewhere there is no
// bus to register with, and nspawn stays in the cgroup podctl made.
func registration() []string {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return []string{"--register=no", "--keep-unit"}
	}
	if os.Getenv("INVOCATION_ID") != "" {
		// Under a systemd unit: the unit is the pod's scope.
		return []string{"--register=yes", "--keep-unit"}
	}
	return []string{"--register=yes"}
}

// Enter runs cmd in a running app, with the app's namespaces, root,
// cgroups (its service's: the pod's systemd stops the command with the
// app), user and confinement (kit.EnterApp).
func (f *Flavor) Enter(p *lifecycle.Pod, app string, cmd []string, stdio stage1.Stdio) (int, error) {
	if err := refuseEnterUsers(p); err != nil {
		return 0, err
	}
	pid, err := appHostPid(p, app)
	if err != nil {
		return 0, err
	}
	return kit.EnterApp(p, kit.EnterTarget{App: app, Pid: pid, Confined: true}, cmd, stdio)
}

// appHostPid finds the host pid of a running app's main process: the
// service's cgroup lists the pids, and the exec helper recorded which of
// them (in the pod's PID namespace) is the main one.
func appHostPid(p *lifecycle.Pod, app string) (int, error) {
	if p.State() != lifecycle.Running {
		return 0, fmt.Errorf("pod %s is %s, not running", p.UUID, p.State())
	}
	b, err := p.ReadFile(filepath.Join(lifecycle.AppDir(app), lifecycle.AppStarted))
	if err != nil {
		return 0, fmt.Errorf("app %s of pod %s has not started", app, p.UUID)
	}
	var rec startRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return 0, fmt.Errorf("reading start of app %s: %w", app, err)
	}
	if _, err := p.ReadFile(lifecycle.AppStatusFile(app)); err == nil {
		return 0, fmt.Errorf("app %s of pod %s has exited", app, p.UUID)
	}
	// Until its command replaces podctl's exec helper, the process is not
	// the app yet (its environment, its root's set-up).
	if !execed(p.FilePath(lifecycle.AppDir(app))) {
		return 0, fmt.Errorf("app %s of pod %s has not started yet: try again once podctl status --wait-ready says it has", app, p.UUID)
	}
	// The checked folders only: the record is not trusted.
	dirs, err := stage1.PodCgroupDirs(p)
	if err != nil {
		return 0, err
	}
	if len(dirs) == 0 {
		return 0, fmt.Errorf("pod %s records no cgroup", p.UUID)
	}
	var pid int
	filepath.WalkDir(dirs[0], func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != serviceName(app) {
			return nil
		}
		pid = kit.HostPidIn(path, rec.Pid)
		return filepath.SkipAll
	})
	if pid != 0 {
		return pid, nil
	}
	return 0, fmt.Errorf("app %s of pod %s has no running process", app, p.UUID)
}

var _ stage1.Flavor = (*Flavor)(nil)
