package stage1

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Per-process settings of an app: resource limits (--rlimit) and the
// out-of-memory score adjustment (--oom-score-adj). Both belong to a
// process and pass to its children and across execve, so every flavor
// sets them in the helper that becomes the app: ExecApp calls
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

// Annotations of a RuntimeApp that carry the settings in the pod manifest:
// appc has no isolators for them.
const (
	// AnnotationRlimits is the app's resource limits, comma-separated
	// NAME=SOFT:HARD (FormatRlimits).
	AnnotationRlimits = "podctl.io/rlimits"
	// AnnotationOOMScoreAdj is the app's oom_score_adj, -1000 to 1000.
	AnnotationOOMScoreAdj = "podctl.io/oom-score-adj"
)

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

// rlimitNames are the limits --rlimit knows, by their short names.
var rlimitNames = map[string]int{
	"as":         unix.RLIMIT_AS,
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"locks":      unix.RLIMIT_LOCKS,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

// RlimitNames lists the limit names ParseRlimit knows, sorted.
func RlimitNames() []string {
	var out []string
	for n := range rlimitNames {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ParseRlimit reads NAME=SOFT[:HARD]. NAME is one of RlimitNames, in any
// case, with or without an RLIMIT_ prefix; SOFT and HARD are numbers or
// "unlimited"; HARD defaults to SOFT and must not be below it.
func ParseRlimit(s string) (Rlimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return Rlimit{}, fmt.Errorf("write NAME=SOFT[:HARD], such as nofile=1024:4096")
	}
	short := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "rlimit_")
	res, ok := rlimitNames[short]
	if !ok {
		return Rlimit{}, fmt.Errorf("unknown limit %q: choose one of %s", name, strings.Join(RlimitNames(), ", "))
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	soft, err := parseRlimitValue(softS)
	if err != nil {
		return Rlimit{}, err
	}
	hard := soft
	if hasHard {
		if hard, err = parseRlimitValue(hardS); err != nil {
			return Rlimit{}, err
		}
	}
	r := Rlimit{Name: short, Resource: res, Soft: soft, Hard: hard}
	if soft > hard {
		return Rlimit{}, fmt.Errorf("soft limit %s is above hard limit %s", formatRlimitValue(soft), formatRlimitValue(hard))
	}
	return r, nil
}

func parseRlimitValue(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "unlimited") || strings.EqualFold(s, "infinity") {
		return RlimInfinity, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("limit %q is not a number or unlimited", s)
	}
	return n, nil
}

func formatRlimitValue(v uint64) string {
	if v == RlimInfinity {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// String is NAME=SOFT:HARD, which ParseRlimit reads back.
func (r Rlimit) String() string { return r.Name + "=" + r.values() }

// values is SOFT:HARD.
func (r Rlimit) values() string {
	return formatRlimitValue(r.Soft) + ":" + formatRlimitValue(r.Hard)
}

// kernelName is the limit's name as the kernel's headers spell it.
func (r Rlimit) kernelName() string { return "RLIMIT_" + strings.ToUpper(r.Name) }

// ParseRlimits reads --rlimit values in order: a later one for the same
// resource replaces an earlier one, so an app's own replaces the default.
// The result keeps the order in which each resource was first named.
func ParseRlimits(specs []string) ([]Rlimit, error) {
	var out []Rlimit
	at := map[int]int{}
	for _, s := range specs {
		r, err := ParseRlimit(s)
		if err != nil {
			return nil, fmt.Errorf("--rlimit %q: %w", s, err)
		}
		if i, ok := at[r.Resource]; ok {
			out[i] = r
			continue
		}
		at[r.Resource] = len(out)
		out = append(out, r)
	}
	return out, nil
}

// FormatRlimits is the value of AnnotationRlimits.
func FormatRlimits(rs []Rlimit) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ",")
}

// CheckOOMScoreAdj refuses an oom_score_adj the kernel does not take.
func CheckOOMScoreAdj(n int) error {
	if n < -1000 || n > 1000 {
		return fmt.Errorf("--oom-score-adj %d is not between -1000 and 1000", n)
	}
	return nil
}

// readSettings fills s's settings from a RuntimeApp's annotations.
func readSettings(s *AppSpec, get func(string) (string, bool)) error {
	if v, ok := get(AnnotationRlimits); ok && v != "" {
		rs, err := ParseRlimits(strings.Split(v, ","))
		if err != nil {
			return fmt.Errorf("app %s: %s: %w", s.Name, AnnotationRlimits, err)
		}
		s.Rlimits = rs
	}
	if v, ok := get(AnnotationOOMScoreAdj); ok {
		n, err := strconv.Atoi(v)
		if err == nil {
			err = CheckOOMScoreAdj(n)
		}
		if err != nil {
			return fmt.Errorf("app %s: %s %q is not a number between -1000 and 1000", s.Name, AnnotationOOMScoreAdj, v)
		}
		s.OOMScoreAdj = &n
	}
	return nil
}

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
func applySettings(s *AppSpec) (warnings []string, err error) {
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
			return nil, fmt.Errorf("app %s: reading %s: %w", s.Name, r.kernelName(), err)
		}
		want := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		switch err := prlimit(r.Resource, &want, nil); {
		case err == nil:
		case refused(err):
			warnings = append(warnings, fmt.Sprintf("app %s: cannot set %s to %s (%v); going on with %s", s.Name, r.kernelName(), r.values(), errText(err), staying(r.Resource, old)))
			continue
		default:
			return nil, fmt.Errorf("app %s: setting %s to %s: %w", s.Name, r.kernelName(), r.values(), err)
		}
		if r.Resource == unix.RLIMIT_NOFILE {
			// The runtime puts its original limit back before an exec.
			// Setting the limit through package syscall, to the same
			// value, tells it not to. Only once the raw call has
			// succeeded: syscall.Setrlimit makes the runtime forget the
			// original even when the kernel refuses the new limit.
			if err := syscall.Setrlimit(unix.RLIMIT_NOFILE, (*syscall.Rlimit)(&want)); err != nil {
				return nil, fmt.Errorf("app %s: setting %s: %w", s.Name, r.kernelName(), err)
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
		return fmt.Sprintf("the soft limit it inherits and hard limit %s", formatRlimitValue(old.Max))
	}
	return Rlimit{Soft: old.Cur, Hard: old.Max}.values()
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
