package stage0

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
)

// Remove removes a pod now, without waiting for a grace period: a
// prepared, aborted or exited pod (or one already marked). It refuses a pod
// that is running or being prepared.
func Remove(c Config, id string) (string, error) {
	p, err := c.OpenPod(id)
	if err != nil {
		return "", err
	}
	defer p.Close()
	if p.State() == lifecycle.Running {
		// A pod being stopped is removed once it has stopped, in order.
		if deadline, ok := terminatingUntil(p); ok {
			ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(forcedExitWait))
			done, err := p.WaitFinished(ctx)
			cancel()
			if err != nil {
				return p.UUID, fmt.Errorf("pod %s is still stopping: %w", p.UUID, err)
			}
			p.Close()
			p = done
		}
	}
	switch p.State() {
	case lifecycle.Running:
		return p.UUID, errdefs.New(ErrUsage, "pod %s is running: stop it first (podctl stop %s)", p.UUID, p.UUID)
	case lifecycle.Preparing, lifecycle.Embryo:
		return p.UUID, errdefs.New(ErrUsage, "pod %s is being prepared: wait for it, or remove it once prepared", p.UUID)
	case lifecycle.Deleting, lifecycle.ExitedDeleting:
		return p.UUID, errdefs.New(lifecycle.ErrBusy, "pod %s is being removed by another podctl", p.UUID)
	}
	if err := p.TryExclusiveLock(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return p.UUID, errdefs.New(lifecycle.ErrBusy, "pod %s changed state meanwhile: look at it again with podctl status", p.UUID)
		}
		return p.UUID, err
	}
	switch p.State() {
	case lifecycle.Prepared, lifecycle.AbortedPrepare:
		err = p.ToGarbage()
	case lifecycle.Exited:
		err = p.ToExitedGarbage()
	}
	if err != nil {
		return p.UUID, err
	}
	ms, err := mountPointsUnder(p.Path())
	if err != nil {
		return p.UUID, err
	}
	return p.UUID, removePod(p, func(string) []string { return ms })
}
