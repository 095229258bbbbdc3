package stage0

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/flavors"
)

// RunOptions are the choices made when a pod starts.
type RunOptions struct {
	// Interactive gives the pod's single app the caller's terminal.
	Interactive bool
}

// Run moves a pod that this process holds locked (preparing, or prepared
// and locked) to run/ and executes stage1 in its place, handing it the lock.
// It does not return unless something failed before stage1 started; then
// the pod is discarded if it was being prepared.
func Run(c Config, p *lifecycle.Pod, opts RunOptions) error {
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
	lock := p.LockFile()
	fd := int(lock.Fd())
	// The lock descriptor must survive exec: stage1 keeps it for the pod's life.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("handing pod %s to stage1: %w", p.UUID, err)
	}
	args := []string{"podctl", stage1.Verb, "run", "--flavor=" + flavor, "--lock-fd=" + strconv.Itoa(fd)}
	if c.Debug {
		args = append(args, "--debug")
	}
	if opts.Interactive {
		args = append(args, "--interactive")
	}
	args = append(args, p.Path())
	err = syscall.Exec(flavors.Self, args, os.Environ())
	// Still here: the pod is in run/ with our lock; closing it makes the
	// pod exited, and gc collects it.
	return fmt.Errorf("starting stage1 for pod %s: %w", p.UUID, err)
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
