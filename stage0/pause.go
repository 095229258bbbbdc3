package stage0

import (
	"fmt"
	"time"

	"podctl/cgroup"
	"podctl/events"
	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
)

// pauseTimeout is how long pause waits for the kernel to stop every
// process of a pod.
const pauseTimeout = 10 * time.Second

// podGroup is the cgroup a running pod recorded, the folders that pass
// stage1's checks.
func podGroup(p *lifecycle.Pod) (*cgroup.Group, error) {
	if p.State() != lifecycle.Running {
		return nil, errdefs.New(ErrUsage, "pod %s is %s: only a running pod can be paused or resumed", p.UUID, p.State())
	}
	g, err := stage1.PodGroup(p)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("pod %s has not made its cgroups yet: try again", p.UUID)
	}
	return g, nil
}

// Pause freezes every process of a running pod (its cgroup freezer). A
// paused pod is not an error.
func Pause(c Config, id string) (string, error) { return setFrozen(c, id, true) }

// Resume thaws a paused pod. A pod that is not paused is not an error.
func Resume(c Config, id string) (string, error) { return setFrozen(c, id, false) }

func setFrozen(c Config, id string, freeze bool) (string, error) {
	p, err := c.OpenPod(id)
	if err != nil {
		return "", err
	}
	defer p.Close()
	g, err := podGroup(p)
	if err != nil {
		return p.UUID, err
	}
	state, event := "resumed", events.Resumed
	if freeze {
		state, event = "paused", events.Paused
		err = g.Freeze(pauseTimeout)
		if err != nil {
			// Half frozen is worse than not: let it run.
			g.Thaw()
		}
	} else {
		err = g.Thaw()
	}
	if err != nil {
		return p.UUID, fmt.Errorf("pod %s not %s: %w", p.UUID, state, err)
	}
	stage1.NoteState(p.Path(), state)
	events.RecordForPod(p.Path(), events.Event{Type: event})
	return p.UUID, nil
}

// IsPaused reports whether a running pod's processes are frozen.
func IsPaused(p *lifecycle.Pod) bool {
	if p.State() != lifecycle.Running {
		return false
	}
	g, err := stage1.PodGroup(p)
	if err != nil || g == nil {
		return false
	}
	frozen, _ := g.Frozen()
	return frozen
}

// thawForStop lets a paused pod run again so that it can take the signal
// that stops it: a frozen process does not act on SIGTERM, and in a v1
// freezer not even on SIGKILL, until thawed.
func thawForStop(p *lifecycle.Pod) error {
	if !IsPaused(p) {
		return nil
	}
	g, err := stage1.PodGroup(p)
	if err != nil || g == nil {
		return err
	}
	if err := g.Thaw(); err != nil {
		return fmt.Errorf("resuming pod %s to stop it: %w", p.UUID, err)
	}
	events.RecordForPod(p.Path(), events.Event{Type: events.Resumed, Message: "to stop it"})
	return nil
}
