package appexec

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Per-process settings of an app: resource limits (--rlimit) and the
// out-of-memory score adjustment (--oom-score-adj). Both belong to a
// process and pass to its children and across execve, so every flavor
// sets them in the helper that becomes the app: Exec calls
// applySettings just before it executes the app's command, and the app
// inherits them. Nothing is put back.
//
// The Go runtime raises its own soft RLIMIT_NOFILE at start (to the hard
// limit less one) and puts the original back before syscall.Exec, unless
// the program has set RLIMIT_NOFILE through package syscall or x/sys/unix.
// The limits here are therefore set with the raw prlimit64 system call,
// which leaves that bookkeeping alone: an app without a nofile limit, or
// whose nofile limit the kernel refused, gets the soft limit the helper
// was started with, exactly as if podctl did not know the setting. Once a
// nofile limit is set, applySettings tells the runtime to keep it across
// the exec.

// Rlimit is one resource limit of an app.
type Rlimit struct {
	// Name is the limit's short name, such as "nofile".
	Name string `json:"name"`
	// Resource is the kernel's number for it, such as unix.RLIMIT_NOFILE.
	Resource int `json:"resource"`
	// Soft and Hard are the limits; RlimInfinity is unlimited.
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// RlimInfinity is the value of an unlimited resource.
const RlimInfinity = unix.RLIM_INFINITY

func FormatRlimitValue(v uint64) string {
	if v == RlimInfinity {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// String is NAME=SOFT:HARD, which ParseRlimit reads back.
func (r Rlimit) String() string { return r.Name + "=" + r.Values() }

// Values is SOFT:HARD.
func (r Rlimit) Values() string {
	return FormatRlimitValue(r.Soft) + ":" + FormatRlimitValue(r.Hard)
}

// KernelName is the limit's name as the kernel's headers spell it.
func (r Rlimit) KernelName() string { return "RLIMIT_" + strings.ToUpper(r.Name) }

// applySettings gives the calling process, which executes the app next,
// the app's oom_score_adj and resource limits. A setting the kernel
// refuses for want of privilege (EPERM, EACCES: raising a hard limit,
// RLIMIT_NOFILE above fs.nr_open, a negative oom_score_adj without
// CAP_SYS_RESOURCE) is left as it was and becomes one warning, a line
// without the "podctl: " prefix saying what was refused and what stays.
// Any other failure is an error, and the app is not started; what was set
// before it stays set in the failing helper.
//
// Until the exec the settings bind the calling process too: a low nofile,
// as or data limit can make what it still does fail.
func applySettings(s *Spec) (warnings []string, err error) {
	// oom_score_adj first: a low RLIMIT_NOFILE could keep its file from
	// opening.
	if s.OOMScoreAdj != nil {
		old, err := readOOMScoreAdj()
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", s.Name, err)
		}
		switch err := writeOOMScoreAdj(*s.OOMScoreAdj); {
		case err == nil:
		case refused(err):
			warnings = append(warnings, fmt.Sprintf("app %s: cannot set oom_score_adj to %d (%v); going on with %d", s.Name, *s.OOMScoreAdj, errText(err), old))
		default:
			return nil, fmt.Errorf("app %s: setting oom_score_adj to %d: %w", s.Name, *s.OOMScoreAdj, err)
		}
	}
	for _, r := range s.Rlimits {
		var old unix.Rlimit
		if err := prlimit(r.Resource, nil, &old); err != nil {
			return nil, fmt.Errorf("app %s: reading %s: %w", s.Name, r.KernelName(), err)
		}
		want := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		switch err := prlimit(r.Resource, &want, nil); {
		case err == nil:
		case refused(err):
			warnings = append(warnings, fmt.Sprintf("app %s: cannot set %s to %s (%v); going on with %s", s.Name, r.KernelName(), r.Values(), errText(err), staying(r.Resource, old)))
			continue
		default:
			return nil, fmt.Errorf("app %s: setting %s to %s: %w", s.Name, r.KernelName(), r.Values(), err)
		}
		if r.Resource == unix.RLIMIT_NOFILE {
			// The runtime puts its original limit back before an exec.
			// Setting the limit through package syscall, to the same
			// value, tells it not to. Only once the raw call has
			// succeeded: syscall.Setrlimit makes the runtime forget the
			// original even when the kernel refuses the new limit.
			if err := syscall.Setrlimit(unix.RLIMIT_NOFILE, (*syscall.Rlimit)(&want)); err != nil {
				return nil, fmt.Errorf("app %s: setting %s: %w", s.Name, r.KernelName(), err)
			}
		}
	}
	return warnings, nil
}

// refused reports whether err is the kernel refusing a setting for want of
// privilege, which the app survives.
func refused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

// errText is err's errno text alone, such as "operation not permitted".
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// staying says what limit an app keeps when its own was refused.
func staying(resource int, old unix.Rlimit) string {
	if resource == unix.RLIMIT_NOFILE && old.Max != RlimInfinity && old.Cur+1 == old.Max {
		// Most likely the Go runtime's own soft limit (the hard one less
		// one), which the app does not get: it gets the soft limit this
		// process was started with, which only the runtime knows.
		return fmt.Sprintf("the soft limit it inherits and hard limit %s", FormatRlimitValue(old.Max))
	}
	return Rlimit{Soft: old.Cur, Hard: old.Max}.Values()
}

// prlimit is prlimit64 on the calling process, made directly: the
// wrappers of packages syscall and x/sys/unix also change the Go runtime's
// RLIMIT_NOFILE bookkeeping (see the top of this file).
func prlimit(resource int, newLimit, old *unix.Rlimit) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(resource),
		uintptr(unsafe.Pointer(newLimit)), uintptr(unsafe.Pointer(old)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// oomScoreAdjFile is the calling process's oom_score_adj.
const oomScoreAdjFile = "/proc/self/oom_score_adj"

func readOOMScoreAdj() (int, error) {
	b, err := os.ReadFile(oomScoreAdjFile)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %q is not a number", oomScoreAdjFile, b)
	}
	return n, nil
}

func writeOOMScoreAdj(n int) error {
	f, err := os.OpenFile(oomScoreAdjFile, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(n))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
