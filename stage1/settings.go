package stage1

import (
	"fmt"
	"podctl/stage1/appexec"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Rlimit is one resource limit of an app, which the exec helper sets
// (appexec.Rlimit).
type Rlimit = appexec.Rlimit

// RlimInfinity is the value of an unlimited resource.
const RlimInfinity = appexec.RlimInfinity

// FormatRlimitValue is a limit's value as --rlimit reads it.
var FormatRlimitValue = appexec.FormatRlimitValue

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
		return Rlimit{}, fmt.Errorf("soft limit %s is above hard limit %s", FormatRlimitValue(soft), FormatRlimitValue(hard))
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

// FormatRlimits is the value of lifecycle.AnnotationRlimits.
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

// MaxSupplementaryGIDs is the most supplementary groups an app may have,
// the kernel's NGROUPS_MAX less the app's own group.
const MaxSupplementaryGIDs = 65535

// CheckSupplementaryGIDs refuses supplementary groups no process can have.
func CheckSupplementaryGIDs(gids []int) error {
	if len(gids) > MaxSupplementaryGIDs {
		return fmt.Errorf("%d supplementary groups: at most %d", len(gids), MaxSupplementaryGIDs)
	}
	for _, g := range gids {
		if g < 0 || g > 1<<32-2 {
			return fmt.Errorf("supplementary group %d is not a group ID (0 to 4294967294)", g)
		}
	}
	return nil
}
