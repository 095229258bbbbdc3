package stage0

import (
	"errors"
	"os"

	"podctl/internal/errdefs"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/flavors"
)

// RunOptions are the choices made when a pod starts.
type RunOptions struct {
	// Interactive gives the pod's single app the caller's terminal.
	Interactive bool
	// Task is the pod's time limit, standard input and restart policy.
	Task stage1.Task
	// Early is what the flavor started before the pod was prepared, which
	// Run hands to it, or ends if the pod does not run.
	Early stage1.Early
	// Warn tells the user of a failure that does not end the pod.
	Warn func(error)
	// NoEarly starts nothing before the pod is prepared: in a detached
	// run, what starts then would keep the caller's error file as its
	// stderr (see Detached).
	NoEarly bool
	// Locked, if set, is called by RunPrepared once it holds the pod's
	// lock, before it runs it (a detached run-prepared reports the pod to
	// its caller).
	Locked func(*lifecycle.Pod) error
}

// PrepareAndRun prepares a pod and runs it, as `podctl run` does. A flavor
// that can start part of the pod early (stage1.EarlyStarter) does so first,
// so that its start-up overlaps the preparation.
func PrepareAndRun(c Config, opts *PrepareOptions, ro RunOptions) (int, error) {
	name := flavorName(opts)
	if err := checkRootless(opts, name); err != nil {
		return 0, err
	}
	f, err := flavorNamed(name)
	if err != nil {
		return 0, err
	}
	// Started before the flavor's check of the host, which reads a few
	// files: what starts early is on a pod's critical path from here.
	// Ended if the check fails.
	if es, ok := f.(stage1.EarlyStarter); ok && !ro.NoEarly {
		eo := stage1.EarlyOptions{HostNetwork: isHostNetwork(opts.Network.Net)}
		if ro.Early, err = es.StartEarly(eo); err != nil {
			return 0, err
		}
	}
	if err := f.Available(); err != nil {
		if ro.Early != nil {
			ro.Early.Abort()
		}
		return 0, err
	}
	p, err := prepare(c, opts, name)
	if err != nil {
		if ro.Early != nil {
			ro.Early.Abort()
		}
		return 0, err
	}
	return Run(c, p, ro)
}

// Run moves a pod that this process holds locked (preparing, or prepared
// and locked) to run/ and becomes its stage1, which keeps the lock, and
// returns the pod's exit code once it has ended: the caller exits with it,
// and the pod reads as exited once the lock is gone with the process. If
// something failed before stage1 started, the pod is discarded if it was
// being prepared, and what the flavor started early is ended. An error
// from stage1 itself leaves the pod in run/, which gc collects.
func Run(c Config, p *lifecycle.Pod, opts RunOptions) (int, error) {
	ok := false
	defer func() {
		if !ok && opts.Early != nil {
			opts.Early.Abort()
		}
	}()
	// Found before the pod moves to run/, and handed on: read once.
	f, err := flavors.ForPod(p)
	if err != nil {
		return 0, err
	}
	if opts.Interactive {
		_, m, err := p.PodManifest()
		if err != nil {
			return 0, err
		}
		if len(m.Apps) != 1 {
			if p.State() == lifecycle.Preparing {
				discard(p)
			}
			return 0, errdefs.New(ErrUsage, "--interactive gives one app the terminal, and pod %s has %d apps", p.UUID, len(m.Apps))
		}
	}
	preparing := p.State() == lifecycle.Preparing
	if err := p.ToRun(); err != nil {
		if preparing {
			discard(p)
		}
		return 0, err
	}
	// stage1 is this process: a new one would cost a Go program's start,
	// as much as half of a pod's. The lock stays close-on-exec, so that no
	// helper or app of the pod holds it and a dead stage1 always reads as
	// an exited pod.
	ok = true
	trace.Mark("stage1")
	return flavors.RunPod(f, p, flavors.RunOptions{Debug: c.Debug, Interactive: opts.Interactive, Task: opts.Task, Early: opts.Early, Warn: opts.Warn})
}

// RunPrepared runs a prepared pod, as Run does.
func RunPrepared(c Config, id string, opts RunOptions) (int, error) {
	p, err := c.OpenPod(id)
	if err != nil {
		return 0, err
	}
	if p.State() != lifecycle.Prepared {
		p.Close()
		return 0, errdefs.New(ErrUsage, "pod %s is %s, not prepared: only a prepared pod can be run with run-prepared", p.UUID, p.State())
	}
	if err := p.TryExclusiveLock(); err != nil {
		p.Close()
		if errors.Is(err, lifecycle.ErrBusy) || errors.Is(err, os.ErrNotExist) {
			return 0, errdefs.New(ErrUsage, "pod %s was started by someone else meanwhile", p.UUID)
		}
		return 0, err
	}
	if opts.Locked != nil {
		if err := opts.Locked(p); err != nil {
			p.Close()
			return 0, err
		}
	}
	return Run(c, p, opts)
}
