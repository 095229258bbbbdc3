package stage0

import (
	"fmt"
	"time"

	"podctl/cgroup"
	"podctl/events"
	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/flavors"
)

// pauseTimeout is how long pause waits for the kernel to stop every
// process of a pod.
const pauseTimeout = 10 * time.Second

// runningFlavor is the flavor of a running pod, which pauses and resumes it.
func runningFlavor(p *lifecycle.Pod) (stage1.Flavor, error) {
	if p.State() != lifecycle.Running {
		return nil, errdefs.New(ErrUsage, "pod %s is %s: only a running pod can be paused or resumed", p.UUID, p.State())
	}
	return flavors.ForPod(p)
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
	f, err := runningFlavor(p)
	if err != nil {
		return p.UUID, err
	}
	state, event := "resumed", events.Resumed
	if freeze {
		state, event = "paused", events.Paused
		err = f.Pause(p, pauseTimeout)
	} else {
		err = f.Resume(p)
	}
	if err != nil {
		return p.UUID, fmt.Errorf("pod %s not %s: %w", p.UUID, state, err)
	}
	return p.UUID, p.Note(state, &events.Event{Type: event})
}

// IsPaused reports whether a running pod's processes are frozen.
func IsPaused(p *lifecycle.Pod) bool {
	if p.State() != lifecycle.Running {
		return false
	}
	record, err := stage1.CgroupRecord(p)
	return err == nil && isPausedRecord(nil, p, record)
}

// isPausedRecord is IsPaused of a running pod whose cgroup record reads
// record (stage1.CgroupRecord, or list's copy of it): its folders are
// checked by c (or the host's checker if nil), and only those that can
// freeze, as they are read (list asks this of every running pod).
func isPausedRecord(c *cgroup.Checker, p *lifecycle.Pod, record string) bool {
	if p.State() != lifecycle.Running {
		return false
	}
	return stage1.PausedFromRecord(c, p.UUID, record)
}

// thawForStop lets a paused pod run again so that it can take the signal
// that stops it: a frozen process does not act on SIGTERM, and in a v1
// freezer not even on SIGKILL, until thawed.
func thawForStop(p *lifecycle.Pod) error {
	if !IsPaused(p) {
		return nil
	}
	f, err := flavors.ForPod(p)
	if err != nil {
		return err
	}
	if err := f.Resume(p); err != nil {
		return fmt.Errorf("resuming pod %s to stop it: %w", p.UUID, err)
	}
	return p.Note("", &events.Event{Type: events.Resumed, Message: "to stop it"})
}
