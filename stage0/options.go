package stage0

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"

	"podctl/cgroup"
	"podctl/internal/errdefs"
	"podctl/internal/manifest"
	"podctl/stage1"
	"podctl/stage1/seccomp/custom"
)

// The parsers here read the values of prepare's and run's flags, one value
// at a time, into the typed values of AppOptions and PrepareOptions. The
// command line calls them as it reads each flag, so a value is parsed once
// and a bad one is refused before anything else happens. They check what a
// value says by itself; what depends on other values or on the host (a
// mount's volume, a secret's file) is checked by the plan (plan.go).
//
// Their errors are of class ErrUsage and are the whole line the user sees,
// flag name included; the errors of class-less values (not a number) are
// for the flag parser to frame.

// EnvVar is one environment variable of --environment or --set-env.
type EnvVar struct{ Name, Value string }

// String is NAME=VALUE, which ParseEnv reads back.
func (e EnvVar) String() string { return e.Name + "=" + e.Value }

// ParseEnv reads a KEY=VALUE environment setting.
func ParseEnv(kv string) (EnvVar, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return EnvVar{}, errdefs.New(ErrUsage, "environment setting %q is not KEY=VALUE", kv)
	}
	if err := checkPodEnvName(k); err != nil {
		return EnvVar{}, err
	}
	return EnvVar{Name: k, Value: v}, nil
}

// checkPodEnvName refuses to let the user set the variables stage1 sets
// to tell an app its pod.
func checkPodEnvName(k string) error {
	if k == stage1.EnvPodUUID || k == stage1.EnvPodName {
		return errdefs.New(ErrUsage, "%s is set by podctl in every app: it cannot be given", k)
	}
	return nil
}

// Secret is one secret variable of --environment-secret or
// --set-env-secret: the variable Name gets the content of File (an
// absolute path) when the pod starts.
type Secret struct{ Name, File string }

// String is NAME=FILE, which ParseSecret reads back.
func (s Secret) String() string { return s.Name + "=" + s.File }

// ParseSecret reads a NAME=FILE value of flag (--environment-secret or
// --set-env-secret). The file is made absolute, not read: the plan checks
// it can be.
func ParseSecret(flag, kv string) (Secret, error) {
	k, file, ok := strings.Cut(kv, "=")
	if !ok || k == "" || file == "" {
		return Secret{}, errdefs.New(ErrUsage, "%s %q is not NAME=FILE", flag, kv)
	}
	if err := checkPodEnvName(k); err != nil {
		return Secret{}, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return Secret{}, errdefs.New(ErrUsage, "%s %s: %v", flag, k, err)
	}
	return Secret{Name: k, File: abs}, nil
}

// Mount is one --mount: the pod volume Volume put into the app at Target,
// a clean absolute path outside stage1's folders.
type Mount struct {
	Volume string
	Target string
	// Spec is the value as given, which messages quote.
	Spec string
}

// String is the value as given, which ParseMount reads back.
func (m Mount) String() string { return m.Spec }

// ParseMount reads a --mount value, volume=NAME,target=/PATH. That the
// volume exists is for the plan to check.
func ParseMount(spec string) (Mount, error) {
	m := Mount{Spec: spec}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "volume":
			m.Volume = v
		case "target":
			m.Target = v
		default:
			return Mount{}, errdefs.New(ErrUsage, "mount %q: unknown key %q (write volume=NAME,target=/PATH)", spec, k)
		}
	}
	if !filepath.IsAbs(m.Target) {
		return Mount{}, errdefs.New(ErrUsage, "mount %q: target must be an absolute path", spec)
	}
	m.Target = filepath.Clean(m.Target)
	if err := stage1.CheckMountTarget(m.Target); err != nil {
		return Mount{}, errdefs.New(ErrUsage, "mount %q: %v: choose a target outside /proc, /sys and /dev", spec, err)
	}
	return m, nil
}

// ParseVolume reads a --volume value as rkt wrote them:
// "NAME,kind=host,source=/PATH[,readOnly=true]" or "NAME,kind=empty". That
// a host source exists, and that no two volumes share a name, is for the
// plan to check.
func ParseVolume(spec string) (types.Volume, error) {
	vol, err := types.VolumeFromString(spec)
	if err != nil {
		return types.Volume{}, errdefs.New(ErrUsage, "volume %q: %v (write NAME,kind=host,source=/PATH[,readOnly=true] or NAME,kind=empty)", spec, err)
	}
	if vol.Mode != nil {
		if _, err := strconv.ParseUint(*vol.Mode, 8, 32); err != nil {
			return types.Volume{}, errdefs.New(ErrUsage, "volume %s: mode %q is not an octal number such as 0755", vol.Name, *vol.Mode)
		}
	}
	// appc refuses a host volume whose source is not absolute.
	return *vol, nil
}

// MinMemory is the lowest --memory taken, 6 MiB: below it an app dies as
// it starts, silently (podman draws the line at the same place).
const MinMemory = 6 << 20

// ParseMemory reads a --memory size such as 64M or 1G into bytes (a
// fraction of a byte rounds up).
func ParseMemory(s string) (int64, error) {
	if manifest.CheckQuantity(s) != nil {
		return 0, errdefs.New(ErrUsage, "--memory %q is not a size such as 64M or 1G", s)
	}
	m, err := types.NewResourceMemoryIsolator(s, s)
	if err != nil || m.Limit().Value() <= 0 {
		return 0, errdefs.New(ErrUsage, "--memory %q is not a size such as 64M or 1G", s)
	}
	if m.Limit().Value() < MinMemory {
		return 0, errdefs.New(ErrUsage, "--memory %s is below 6Mi (6,291,456 bytes), the least an app can start in: give at least 6Mi", s)
	}
	return m.Limit().Value(), nil
}

// ParseCPU reads a --cpu share of a core such as 500m or 2 into
// thousandths of a core (a fraction of one rounds up), at least
// cgroup.MinCPUMillis.
func ParseCPU(s string) (int64, error) {
	if manifest.CheckQuantity(s) != nil {
		return 0, errdefs.New(ErrUsage, "--cpu %q is not a share of a core such as 500m or 2", s)
	}
	c, err := types.NewResourceCPUIsolator(s, s)
	if err != nil || c.Limit().MilliValue() <= 0 {
		return 0, errdefs.New(ErrUsage, "--cpu %q is not a share of a core such as 500m or 2", s)
	}
	if c.Limit().MilliValue() < cgroup.MinCPUMillis {
		return 0, errdefs.New(ErrUsage, "--cpu %s is below %dm, the least the kernel gives (1 ms in each 100 ms): give at least %dm", s, cgroup.MinCPUMillis, cgroup.MinCPUMillis)
	}
	return c.Limit().MilliValue(), nil
}

// ParseRlimit reads an --rlimit value, NAME=SOFT[:HARD] (stage1.ParseRlimit).
func ParseRlimit(s string) (stage1.Rlimit, error) {
	rs, err := stage1.ParseRlimits([]string{s})
	if err != nil {
		return stage1.Rlimit{}, errdefs.New(ErrUsage, "%v", err)
	}
	return rs[0], nil
}

// ParseOOMScoreAdj reads an --oom-score-adj value, -1000 to 1000.
func ParseOOMScoreAdj(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if err := stage1.CheckOOMScoreAdj(n); err != nil {
		return 0, errdefs.New(ErrUsage, "%v", err)
	}
	return n, nil
}

// ParsePidsLimit reads a --pids-limit value: a number of processes, at
// least 1. 0 is refused rather than read as "none" or "nothing may run".
func ParsePidsLimit(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if n < 1 {
		what := "is below 1"
		if n < 0 {
			what = "is negative"
		}
		return 0, fmt.Errorf("%d %s: give at least 1, or leave the flag out for no limit", n, what)
	}
	return n, nil
}

// KeyValue is one --label or --annotation of a pod.
type KeyValue struct{ Key, Value string }

// String is KEY=VALUE, which ParseLabel and ParseAnnotation read back.
func (kv KeyValue) String() string { return kv.Key + "=" + kv.Value }

// ParseCapabilities reads a --caps-retain or --caps-remove value: names of
// capabilities, comma-separated, with or without CAP_, in any case.
func ParseCapabilities(s string) ([]capability.Cap, error) {
	caps, err := stage1.ParseCapabilities(strings.Split(s, ","))
	if err != nil {
		return nil, errdefs.New(ErrUsage, "%v", err)
	}
	return caps, nil
}

// ParseSeccomp reads a --seccomp value: unconfined, or
// mode=retain|remove[,errno=ENAME],SYSCALL[,SYSCALL...].
func ParseSeccomp(s string) (*custom.Custom, error) {
	c, err := custom.ParseCustom(s)
	if err != nil {
		return nil, errdefs.New(ErrUsage, "--%v", err)
	}
	return c, nil
}

// ParseSupplementaryGIDs reads a --supplementary-gids value: group IDs,
// comma-separated.
func ParseSupplementaryGIDs(s string) ([]int, error) {
	gids := []int{}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, errdefs.New(ErrUsage, "--supplementary-gids %q: %q is not a group ID: give numbers such as 10,27", s, f)
		}
		gids = append(gids, n)
	}
	if err := stage1.CheckSupplementaryGIDs(gids); err != nil {
		return nil, errdefs.New(ErrUsage, "--supplementary-gids: %v", err)
	}
	return gids, nil
}
