package kit

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Child is a process started with a fork of its own (StartChild), not
// through os/exec: the first process os/exec starts costs a Go program a
// check of the kernel's pidfd support, a fork of the whole process and
// four calls, 0.5 to 2 ms on the way to a pod's init and to each of its
// apps. Its parent must wait for it by its pid alone (Wait, or a reaper
// that is the only waiter of its process): until it is reaped, its pid
// cannot name any other process, so that Signal never reaches one.
type Child struct {
	Pid int
	// mu is held to reap the child, and read-held to signal it.
	mu   sync.RWMutex
	done bool
	// lost: the reap failed, and status says nothing.
	lost   bool
	status syscall.WaitStatus
}

// ChildSpec is what StartChild starts.
type ChildSpec struct {
	Path      string
	Args, Env []string
	Dir       string
	// Files are the child's descriptors 0 to 2, where nil is /dev/null,
	// then, from 4 on (after the error pipe), the rest.
	Files []*os.File
	Sys   *syscall.SysProcAttr
}

// StartChild starts s with the error pipe (StartErrPipe) as its
// descriptor 3. It returns once the child has executed s.Path, with the
// pipe's read end (WaitErrPipe).
func StartChild(s ChildSpec) (*Child, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("starting helper: %w", err)
	}
	defer w.Close()
	stdio := [ErrPipeFD]*os.File{}
	copy(stdio[:], s.Files)
	fds := make([]uintptr, 0, ErrPipeFD+1+max(len(s.Files)-ErrPipeFD, 0))
	for _, f := range stdio {
		if f == nil {
			if f, err = os.Open(os.DevNull); err != nil {
				r.Close()
				return nil, nil, fmt.Errorf("starting helper: %w", err)
			}
			defer f.Close()
		}
		fds = append(fds, f.Fd())
	}
	fds = append(fds, w.Fd())
	for _, f := range s.Files[min(len(s.Files), ErrPipeFD):] {
		fds = append(fds, f.Fd())
	}
	pid, err := syscall.ForkExec(s.Path, s.Args, &syscall.ProcAttr{Dir: s.Dir, Env: s.Env, Files: fds, Sys: s.Sys})
	// The descriptors must stay open until the child has its copies.
	runtime.KeepAlive(s.Files)
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("starting helper: %w", err)
	}
	return &Child{Pid: pid}, r, nil
}

// Signal sends sig to the child, unless it has been reaped.
func (c *Child) Signal(sig syscall.Signal) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.done {
		return os.ErrProcessDone
	}
	return syscall.Kill(c.Pid, sig)
}

// Wait waits for the child to end, reaps it and returns how it ended; a
// later call returns the same at once.
func (c *Child) Wait() syscall.WaitStatus {
	c.mu.RLock()
	done := c.done
	c.mu.RUnlock()
	if !done {
		// Waited for without reaping it, so that a Signal meanwhile
		// still reaches the child, not a process given its pid after.
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, c.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done {
		for {
			_, err := syscall.Wait4(c.Pid, &c.status, 0, nil)
			if err != syscall.EINTR {
				// A reap that failed (taken by another waiter) is no exit
				// status: Status says the child's end is unknown.
				c.lost = err != nil
				break
			}
		}
		c.done = true
	}
	return c.status
}

// Status is how the child ended, if Wait has reaped it.
func (c *Child) Status() (syscall.WaitStatus, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.status, c.done && !c.lost
}

// HoldUnreaped keeps the child from being reaped (Wait blocks) until
// release is called, for a caller that hands the child on to another
// program it becomes: that program must find the child to reap. ok is
// false, and nothing is held, if the child has been reaped already.
func (c *Child) HoldUnreaped() (release func(), ok bool) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return nil, false
	}
	return c.mu.Unlock, true
}
