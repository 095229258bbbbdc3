package profile

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
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

// alwaysRetained are allowed by every retain set: without them the app
// could not be executed (execve), a signal handler could not return and a
// process could not end.
var alwaysRetained = []string{"execve", "rt_sigreturn", "exit", "exit_group"}

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
	if _, err := c.errno(); err != nil {
		return err
	}
	if len(c.Syscalls) == 0 {
		return fmt.Errorf("mode=%s names no system call", c.Mode)
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	for _, n := range c.Syscalls {
		if _, ok := info.SyscallNames[n]; !ok {
			return fmt.Errorf("system call %q is not known on %s: give names as in syscalls(2), lower-case, such as mkdir or socket", n, info.Name)
		}
	}
	return nil
}

// errno is the errno the filter returns for what it refuses.
func (c *Custom) errno() (syscall.Errno, error) {
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

// CustomProgram assembles c (retain or remove) into a BPF program for
// seccomp(2). tracing is as for Policy.
func CustomProgram(c *Custom, tracing bool) ([]unix.SockFilter, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	e, _ := c.errno()
	refuse := libseccomp.ActionErrno | libseccomp.Action(e)
	var policy libseccomp.Policy
	switch c.Mode {
	case ModeRetain:
		allow := unique(append(append([]string{}, alwaysRetained...), c.Syscalls...))
		// The library's default action takes no errno of its own: every
		// other call of the architecture is named, and numbers it does
		// not know fail with EPERM.
		info, err := arch.GetInfo("")
		if err != nil {
			return nil, fmt.Errorf("seccomp: %w", err)
		}
		var others []string
		for n := range info.SyscallNames {
			if !slices.Contains(allow, n) {
				others = append(others, n)
			}
		}
		sort.Strings(others)
		policy = libseccomp.Policy{DefaultAction: libseccomp.ActionErrno, Syscalls: []libseccomp.SyscallGroup{
			{Names: allow, Action: libseccomp.ActionAllow},
			{Names: others, Action: refuse},
		}}
	case ModeRemove:
		def, err := Policy(tracing)
		if err != nil {
			return nil, err
		}
		// The first group that names a call decides it.
		groups := []libseccomp.SyscallGroup{{Names: unique(c.Syscalls), Action: refuse}}
		policy = libseccomp.Policy{DefaultAction: def.DefaultAction, Syscalls: append(groups, def.Syscalls...)}
	default:
		return nil, fmt.Errorf("seccomp mode %q has no program", c.Mode)
	}
	return assemble(policy)
}

// unique returns names sorted, each once.
func unique(names []string) []string {
	out := slices.Clone(names)
	sort.Strings(out)
	return slices.Compact(out)
}
