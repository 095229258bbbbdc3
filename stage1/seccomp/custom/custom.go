// Package custom holds an app's own seccomp filter (--seccomp, or the
// appc isolators os/linux/seccomp-retain-set and -remove-set) as data:
// how it is written, read back and checked. It links no assembler: podctl's
// start path checks filters, and podctl-fetch assembles them
// (profile.CustomProgram), so that every process of a pod's start is spared
// the assembler's initialisation.
package custom

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The modes of an app's own filter (--seccomp, or the appc isolators
// os/linux/seccomp-retain-set and os/linux/seccomp-remove-set).
const (
	// ModeRetain allows only the named calls: every other fails with the
	// errno.
	ModeRetain = "retain"
	// ModeRemove is the default profile with the named calls refused with
	// the errno.
	ModeRemove = "remove"
	// ModeUnconfined installs no filter.
	ModeUnconfined = "unconfined"
)

// AlwaysRetained are allowed by every retain set: without them the app
// could not be executed (execve), a signal handler could not return and a
// process could not end; and the exec helper, a Go program whose runtime
// may yield its thread between the filter and the execve, could not
// wait for it back or wake another (futex, sched_yield, nanosleep).
var AlwaysRetained = []string{"execve", "rt_sigreturn", "exit", "exit_group", "futex", "sched_yield", "nanosleep"}

// Custom is an app's own seccomp filter. Errno is an errno's name, EPERM
// when empty. Syscalls are names of system calls of the architecture
// podctl runs on.
type Custom struct {
	Mode     string   `json:"mode"`
	Errno    string   `json:"errno,omitempty"`
	Syscalls []string `json:"syscalls,omitempty"`
}

// ParseCustom reads an app's filter as --seccomp gives it: "unconfined",
// or mode=retain|remove[,errno=ENAME],SYSCALL[,SYSCALL...].
func ParseCustom(s string) (*Custom, error) {
	if s == ModeUnconfined {
		return &Custom{Mode: ModeUnconfined}, nil
	}
	c := &Custom{}
	for i, f := range strings.Split(s, ",") {
		k, v, isKV := strings.Cut(f, "=")
		switch {
		case i == 0 && (!isKV || k != "mode"):
			return nil, fmt.Errorf("seccomp %q: begin with mode=retain or mode=remove, or give unconfined", s)
		case i == 0:
			c.Mode = v
		case isKV && k == "errno" && c.Errno == "" && len(c.Syscalls) == 0:
			c.Errno = v
		case isKV:
			return nil, fmt.Errorf("seccomp %q: %q: give mode=, then errno= at most once, then system call names", s, f)
		default:
			c.Syscalls = append(c.Syscalls, f)
		}
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("seccomp %q: %w", s, err)
	}
	return c, nil
}

// String writes c as ParseCustom reads it.
func (c *Custom) String() string {
	if c == nil {
		return ""
	}
	if c.Mode == ModeUnconfined {
		return ModeUnconfined
	}
	parts := []string{"mode=" + c.Mode}
	if c.Errno != "" {
		parts = append(parts, "errno="+c.Errno)
	}
	return strings.Join(append(parts, c.Syscalls...), ",")
}

// Check refuses an unknown mode, errno or system call name, and a retain
// or remove set without calls.
func (c *Custom) Check() error {
	switch c.Mode {
	case ModeUnconfined:
		if c.Errno != "" || len(c.Syscalls) > 0 {
			return errors.New("unconfined takes no errno and no system calls")
		}
		return nil
	case ModeRetain, ModeRemove:
	default:
		return fmt.Errorf("mode %q is not retain, remove or unconfined", c.Mode)
	}
	if _, err := c.ErrnoValue(); err != nil {
		return err
	}
	if len(c.Syscalls) == 0 {
		return fmt.Errorf("mode=%s names no system call", c.Mode)
	}
	arch, known, err := syscallNames()
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	for _, n := range c.Syscalls {
		if !known(n) {
			return fmt.Errorf("system call %q is not known on %s: give names as in syscalls(2), lower-case, such as mkdir or socket", n, arch)
		}
	}
	return nil
}

// ErrnoValue is the errno the filter returns for what it refuses.
func (c *Custom) ErrnoValue() (syscall.Errno, error) {
	if c.Errno == "" {
		return unix.EPERM, nil
	}
	for e := syscall.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == c.Errno {
			return e, nil
		}
	}
	return 0, fmt.Errorf("errno %q is not known: give a name such as EPERM, ENOSYS or EACCES (errno(3))", c.Errno)
}

// AssembleRequest is what podctl asks podctl-fetch to assemble, as JSON on
// its standard input (verb seccomp-program); the answer is the program, a
// JSON list of instructions.
type AssembleRequest struct {
	Filter *Custom `json:"filter"`
	// Tracing allows the tracing calls in a remove set's default
	// profile (seccomp.TracingSafe).
	Tracing bool `json:"tracing"`
}
