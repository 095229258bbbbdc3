package stage0

import (
	"context"
	"errors"
	"fmt"
	"time"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
)

// forcedExitWait is how long a killed pod may take to read as exited.
const forcedExitWait = 10 * time.Second

// markTerminating records that the pod is being stopped, so that status
// shows it terminating and rm waits for the stop. A second stop writes its
// own deadline. Atomic, not durable: it means nothing after a reboot.
func markTerminating(c Config, p *lifecycle.Pod, grace time.Duration) {
	until := time.Now().Add(grace).UTC().Format(time.RFC3339Nano)
	if err := p.WriteFile(lifecycle.FileTerminating, []byte(until), false); err != nil {
		c.warn(err)
		return
	}
	if err := p.Note("terminating", nil); err != nil {
		c.warn(err)
	}
}

// terminatingUntil returns, for a running pod being stopped, the time its
// stop kills it.
func terminatingUntil(p *lifecycle.Pod) (time.Time, bool) {
	if p.State() != lifecycle.Running {
		return time.Time{}, false
	}
	b, err := p.ReadFile(lifecycle.FileTerminating)
	if err != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	// A stop killed before it could kill the pod leaves its mark: past
	// the stop's own end, the pod is running, not terminating.
	return t, err == nil && time.Now().Before(t.Add(forcedExitWait))
}

// ErrAlreadyStopped is returned by Stop for a pod that has already exited.
var ErrAlreadyStopped = errors.New("already stopped")

// Stop asks a running pod to stop and waits for it: SIGTERM through its
// flavor, then, if it has not exited after grace, a forced kill. With force
// it is killed at once.
func Stop(c Config, id string, force bool, grace time.Duration) (string, error) {
	p, err := c.OpenPod(id)
	if err != nil {
		return "", err
	}
	defer p.Close()
	if p.IsAfterRun() {
		return p.UUID, fmt.Errorf("pod %s is %s: %w", p.UUID, p.State(), ErrAlreadyStopped)
	}
	if p.State() != lifecycle.Running {
		return p.UUID, errdefs.New(ErrUsage, "pod %s is %s, not running: nothing to stop", p.UUID, p.State())
	}
	f, err := flavorFor(p)
	if err != nil {
		return p.UUID, err
	}
	if err := thawForStop(p); err != nil {
		return p.UUID, err
	}
	markTerminating(c, p, grace)
	if err := f.Stop(p, force); err != nil {
		return p.UUID, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done, err := p.WaitFinished(ctx)
	if err == nil {
		done.Close()
		return p.UUID, releaseStopped(c, p.UUID, force)
	}
	if errors.Is(err, lifecycle.ErrNotFound) {
		return p.UUID, nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return p.UUID, err
	}
	if err := f.Stop(p, true); err != nil {
		return p.UUID, err
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), forcedExitWait)
	defer cancel2()
	done, err = p.WaitFinished(ctx2)
	if errors.Is(err, lifecycle.ErrNotFound) {
		// Exited and removed meanwhile, by an rm that waited for it.
		return p.UUID, nil
	}
	if err != nil {
		return p.UUID, fmt.Errorf("pod %s did not exit after it was killed: %w", p.UUID, err)
	}
	done.Close()
	return p.UUID, releaseStopped(c, p.UUID, true)
}

// releaseStopped releases the networks of a pod that has exited after a
// stop. A killed stage1 (killed) could not release them itself.
func releaseStopped(c Config, uuid string, killed bool) error {
	if !killed {
		return nil
	}
	if err := releasePodNetworks(c.DataDir, uuid); err != nil {
		return fmt.Errorf("pod %s stopped, but %w: podctl gc releases them", uuid, err)
	}
	return nil
}
