package stage0

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
)

// ErrRemovedMeanwhile says that the pod Remove was asked to remove was
// removed meanwhile by another podctl (rm, gc): it is gone, as asked.
var ErrRemovedMeanwhile = errors.New("removed by another podctl meanwhile")

// Remove removes a pod now, without waiting for a grace period: a
// prepared, aborted or exited pod (or one already marked). It refuses a pod
// that is running or being prepared. A pod another podctl is removing or
// marking is waited for: gone, the error is ErrRemovedMeanwhile; still
// there, Remove removes it.
func Remove(c Config, id string) (string, error) {
	uuid, busy, err := removeOnce(c, id)
	// The holder of a busy pod's lock is a gc or another rm at work: a
	// matter of moments.
	for deadline := time.Now().Add(30 * time.Second); busy; {
		if time.Now().After(deadline) {
			return uuid, err
		}
		time.Sleep(20 * time.Millisecond)
		var again error
		if uuid, busy, again = removeOnce(c, uuid); errors.Is(again, lifecycle.ErrNotFound) {
			return uuid, fmt.Errorf("pod %s: %w", uuid, ErrRemovedMeanwhile)
		}
		err = again
	}
	return uuid, err
}

// removeOnce is one try of Remove; busy says another podctl holds the pod.
func removeOnce(c Config, id string) (uuid string, busy bool, err error) {
	p, err := c.OpenPod(id)
	if err != nil {
		return id, false, err
	}
	defer p.Close()
	uuid, err = removeOpen(p)
	return uuid, errors.Is(err, lifecycle.ErrBusy), err
}

// removeOpen removes the opened pod p.
func removeOpen(p *lifecycle.Pod) (string, error) {
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
			defer p.Close()
		}
	}
	switch p.State() {
	case lifecycle.Running:
		if _, err := p.ReadFile(lifecycle.FileResult); err == nil {
			// Its stage1 has recorded its end: whoever holds its lock is
			// that stage1 in its last moment, or a gc or an rm at work.
			return p.UUID, errdefs.New(lifecycle.ErrBusy, "pod %s is ending, or being collected by another podctl", p.UUID)
		}
		return p.UUID, errdefs.New(ErrUsage, "pod %s is running: stop it first (podctl stop %s)", p.UUID, p.UUID)
	case lifecycle.Preparing, lifecycle.Embryo:
		return p.UUID, errdefs.New(ErrUsage, "pod %s is being prepared: wait for it, or remove it once prepared", p.UUID)
	case lifecycle.Deleting, lifecycle.ExitedDeleting:
		return p.UUID, errdefs.New(lifecycle.ErrBusy, "pod %s is being removed by another podctl", p.UUID)
	}
	err := p.TryExclusiveLock()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Moved (marked) or removed by another podctl meanwhile.
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
	ms, err := lifecycle.MountPointsUnder(p.Path())
	if err != nil {
		return p.UUID, err
	}
	return p.UUID, removePod(p, func(string) []string { return ms }, time.Time{})
}
