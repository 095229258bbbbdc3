package stage0

import (
	"errors"
	"fmt"
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
}

// PrepareAndRun prepares a pod and runs it, as `podctl run` does. A flavor
// that can start part of the pod early (stage1.EarlyStarter) does so first,
// so that its start-up overlaps the preparation.
func PrepareAndRun(c Config, opts *PrepareOptions, ro RunOptions) error {
	name := flavorName(opts)
	f, err := availableFlavor(name)
	if err != nil {
		return err
	}
	if es, ok := f.(stage1.EarlyStarter); ok {
		if ro.Early, err = es.StartEarly(); err != nil {
			return err
		}
	}
	p, err := prepare(c, opts, name)
	if err != nil {
		if ro.Early != nil {
			ro.Early.Abort()
		}
		return err
	}
	return Run(c, p, ro)
}

// Run moves a pod that this process holds locked (preparing, or prepared
// and locked) to run/ and becomes its stage1, which keeps the lock. When
// the pod ends, the process exits with the pod's exit code. Run returns
// only if something failed before stage1 started; then the pod is
// discarded if it was being prepared, and what the flavor started early
// is ended.
func Run(c Config, p *lifecycle.Pod, opts RunOptions) error {
	ok := false
	defer func() {
		if !ok && opts.Early != nil {
			opts.Early.Abort()
		}
	}()
	flavor, err := p.Flavor()
	if err != nil {
		return err
	}
	if opts.Interactive {
		_, m, err := p.PodManifest()
		if err != nil {
			return err
		}
		if len(m.Apps) != 1 {
			if p.State() == lifecycle.Preparing {
				discard(p)
			}
			return errdefs.New(ErrUsage, "--interactive gives one app the terminal, and pod %s has %d apps", p.UUID, len(m.Apps))
		}
	}
	preparing := p.State() == lifecycle.Preparing
	if err := p.ToRun(); err != nil {
		if preparing {
			discard(p)
		}
		return err
	}
	// stage1 is this process: a new one would cost a Go program's start,
	// as much as half of a pod's. The lock stays close-on-exec, so that no
	// helper or app of the pod holds it and a dead stage1 always reads as
	// an exited pod.
	ok = true
	trace.Mark("stage1")
	code, err := flavors.RunPod(flavor, p.LockFile(), p.Path(), flavors.RunOptions{Debug: c.Debug, Interactive: opts.Interactive, Task: opts.Task, Early: opts.Early})
	if err != nil {
		// The pod is in run/ with our lock; exiting makes it exited, and
		// gc collects it.
		fmt.Fprintf(os.Stderr, "podctl: stage1 of pod %s: %v\n", p.UUID, err)
		code = stage1.ExitStartFailed
	}
	os.Exit(code)
	return nil
}

// RunPrepared runs a prepared pod.
func RunPrepared(c Config, id string, opts RunOptions) error {
	p, err := c.OpenPod(id)
	if err != nil {
		return err
	}
	if p.State() != lifecycle.Prepared {
		p.Close()
		return errdefs.New(ErrUsage, "pod %s is %s, not prepared: only a prepared pod can be run with run-prepared", p.UUID, p.State())
	}
	if err := p.TryExclusiveLock(); err != nil {
		p.Close()
		if errors.Is(err, lifecycle.ErrBusy) || errors.Is(err, os.ErrNotExist) {
			return errdefs.New(ErrUsage, "pod %s was started by someone else meanwhile", p.UUID)
		}
		return err
	}
	return Run(c, p, opts)
}
