package stage0

import (
	"context"
	"errors"
	"fmt"
	"time"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
)

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
	if err := f.Stop(p, force); err != nil {
		return p.UUID, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done, err := p.WaitFinished(ctx)
	if err == nil {
		done.Close()
		return p.UUID, nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return p.UUID, err
	}
	if err := f.Stop(p, true); err != nil {
		return p.UUID, err
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	done, err = p.WaitFinished(ctx2)
	if err != nil {
		return p.UUID, fmt.Errorf("pod %s did not exit after it was killed: %w", p.UUID, err)
	}
	done.Close()
	return p.UUID, nil
}
