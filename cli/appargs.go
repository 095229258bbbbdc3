package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
	"github.com/spf13/pflag"

	"podctl/stage0"
	"podctl/stage1"
	"podctl/stage1/seccomp/custom"
)

// appFlags are the per-app flags. Given before the first image they apply
// to every app; after an image, to that image's app only. --name is the
// exception: after an image it names the app, and before the first image
// it is the pod's own flag, which names the pod (podFlags). Values are
// parsed as they are read (values.go); repeatable flags collect an app's
// own values, which come after the defaults'.
type appFlags struct {
	stage0.AppOptions
	env     []stage0.EnvVar
	secrets []stage0.Secret
	mounts  []stage0.Mount
	rlimits []stage1.Rlimit
}

// add registers the flags on fs, with def's values as defaults. withName
// adds the app's --name, which only an image's own flags have.
func (a *appFlags) add(fs *pflag.FlagSet, def *stage0.AppOptions, withName bool) {
	if withName {
		fs.StringVar(&a.Name, "name", "", "name of the app (default: the last part of the image name)")
	}
	fs.StringVar(&a.Exec, "exec", def.Exec, "command to run instead of the image's")
	list(fs, &a.env, "environment", stage0.ParseEnv, "set KEY=VALUE in the app's environment (repeatable)")
	list(fs, &a.secrets, "environment-secret", secretParser("--environment-secret"), "set NAME in the app's environment to the content of FILE, read when the pod starts and never stored: NAME=FILE (repeatable)")
	fs.StringVar(&a.User, "user", def.User, "user to run as: a number, a name from the image's /etc/passwd, or /PATH: the owner of that file in the image")
	fs.StringVar(&a.Group, "group", def.Group, "group to run as: a number, a name from the image's /etc/group, or /PATH: the group of that file in the image")
	a.SupplementaryGIDs = def.SupplementaryGIDs
	fs.Var(typedFlag[[]int]{&a.SupplementaryGIDs, stage0.ParseSupplementaryGIDs, showInts, "GIDS"}, "supplementary-gids", "the app's supplementary groups, replacing the image's: group IDs, comma-separated")
	fs.StringVar(&a.WorkingDir, "working-dir", def.WorkingDir, "working directory of the app")
	list(fs, &a.mounts, "mount", stage0.ParseMount, "put a pod volume into the app: volume=NAME,target=/PATH (repeatable)")
	a.Memory, a.CPU = def.Memory, def.CPU
	fs.Var(typedFlag[int64]{&a.Memory, stage0.ParseMemory, showPositive[int64], "string"}, "memory", "memory limit of the app, such as 64M or 1G: past it the app is killed (OOMKilled)")
	fs.Var(typedFlag[int64]{&a.CPU, stage0.ParseCPU, showMillis, "string"}, "cpu", "CPU limit of the app, in cores (2) or thousandths of one (500m), at least 10m")
	a.PidsLimit = def.PidsLimit
	fs.Var(typedFlag[int]{&a.PidsLimit, stage0.ParsePidsLimit, showPositive[int], "int"}, "pids-limit", "most processes (and threads) the app may have at once, at least 1 (default: no limit)")
	a.OOMScoreAdj = def.OOMScoreAdj
	fs.Var(typedFlag[*int]{&a.OOMScoreAdj, optional(stage0.ParseOOMScoreAdj), showOptional, "int"}, "oom-score-adj", "the app's oom_score_adj, -1000 (never killed for want of memory) to 1000 (killed first)")
	addAppSecurity(fs, &a.AppOptions, def)
	list(fs, &a.rlimits, "rlimit", stage0.ParseRlimit, "a resource limit of the app: NAME=SOFT[:HARD], such as nofile=1024:4096 or core=unlimited (repeatable)")
	a.addConfinement(fs, def)
}

// addConfinement registers the flags of the app's capabilities, seccomp
// filter and no_new_privs.
func (a *appFlags) addConfinement(fs *pflag.FlagSet, def *stage0.AppOptions) {
	a.CapsRetain, a.CapsRemove, a.Seccomp, a.NoNewPrivileges = def.CapsRetain, def.CapsRemove, def.Seccomp, def.NoNewPrivileges
	fs.Var(typedFlag[[]capability.Cap]{&a.CapsRetain, stage0.ParseCapabilities, showCaps, "CAPS"}, "caps-retain", "the app's capabilities, instead of the default ones: CAP_NET_BIND_SERVICE,CAP_SYS_TIME (any case, CAP_ optional)")
	fs.Var(typedFlag[[]capability.Cap]{&a.CapsRemove, stage0.ParseCapabilities, showCaps, "CAPS"}, "caps-remove", "capabilities taken from the app's default ones: CAP_CHOWN,CAP_NET_RAW")
	fs.Var(typedFlag[*custom.Custom]{&a.Seccomp, stage0.ParseSeccomp, (*custom.Custom).String, "FILTER"}, "seccomp", "the app's seccomp filter: mode=retain[,errno=ENAME],SYSCALL,... (only these calls), mode=remove[,errno=ENAME],SYSCALL,... (the default filter and not these), or unconfined (none)")
	fs.Var(typedFlag[*bool]{&a.NoNewPrivileges, parseBoolPtr, showBoolPtr, "bool"}, "no-new-privileges", "set no_new_privs on the app (default true): false lets setuid binaries and file capabilities in the image raise its privileges")
	fs.Lookup("no-new-privileges").NoOptDefVal = "true"
}

// showCaps writes capabilities back, "" for none.
func showCaps(caps []capability.Cap) string {
	return strings.Join(stage1.CapabilityNames(caps), ",")
}

// parseBoolPtr reads a bool that can be left unset.
func parseBoolPtr(s string) (*bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not true or false", s)
	}
	return &b, nil
}

// showBoolPtr writes a bool that can be left unset back.
func showBoolPtr(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// showPositive writes a count back, "" for none.
func showPositive[T int | int64](n T) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(int64(n), 10)
}

// showMillis writes thousandths of a core back, "" for none.
func showMillis(n int64) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(n, 10) + "m"
}

// optional makes a parser of an int that can be left unset.
func optional(parse func(string) (int, error)) func(string) (*int, error) {
	return func(s string) (*int, error) {
		n, err := parse(s)
		if err != nil {
			return nil, err
		}
		return &n, nil
	}
}

// showInts writes numbers back, comma-separated, "" for none.
func showInts(ns []int) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

// showOptional writes an int that can be left unset back.
func showOptional(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

// options returns the app's options, its environment, mounts and limits
// added to def's.
func (a *appFlags) options(def *stage0.AppOptions) stage0.AppOptions {
	ao := a.AppOptions
	ao.Env = append(slices.Clone(def.Env), a.env...)
	ao.EnvSecrets = append(slices.Clone(def.EnvSecrets), a.secrets...)
	ao.Mounts = append(slices.Clone(def.Mounts), a.mounts...)
	ao.Rlimits = append(slices.Clone(def.Rlimits), a.rlimits...)
	return ao
}

// parseApps reads the image part of a run or prepare command line:
//
//	IMAGE [APP FLAGS] [IMAGE [APP FLAGS]]... [-- ARGS...] [--- IMAGE ...]...
//
// An image follows another directly; "---" is needed only to end the
// arguments given after "--".
func parseApps(def stage0.AppOptions, args []string) ([]stage0.AppOptions, error) {
	apps, _, err := parseAppsNoting(def, args)
	return apps, err
}

// parseAppsNoting is parseApps, which also returns the images that
// followed another image's flags without "---": a word meant as an
// argument reads as one of them (strayHint).
func parseAppsNoting(def stage0.AppOptions, args []string) (apps []stage0.AppOptions, following []string, err error) {
	for _, section := range splitSections(args) {
		for first := true; len(section) > 0; first = false {
			ao, rest, err := parseApp(def, section)
			if err != nil {
				return nil, nil, err
			}
			if !first {
				following = append(following, ao.Image)
			}
			apps = append(apps, ao)
			section = rest
		}
	}
	if len(apps) == 0 {
		return nil, nil, fmt.Errorf("no image given: see --help")
	}
	return apps, following, nil
}

// strayHint adds to an error that an image following another is not to be
// found what the user may have meant: arguments of the app before it.
func strayHint(err error, following []string) error {
	if err == nil {
		return nil
	}
	for _, img := range following {
		if strings.Contains(err.Error(), fmt.Sprintf("no image %q", img)) {
			return fmt.Errorf("%w (%s follows an image's flags, so it reads as an image: put app arguments after \"--\", and \"---\" after them before the next image)", err, img)
		}
	}
	return err
}

// parseApp reads one image and its flags and arguments from the start of
// section, and returns what follows them: the next image, if any.
func parseApp(def stage0.AppOptions, section []string) (stage0.AppOptions, []string, error) {
	var af appFlags
	fs := pflag.NewFlagSet(section[0], pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.Usage = func() {}
	af.add(fs, &def, true)
	if err := fs.Parse(section[1:]); err != nil {
		if err, whole := flagError(err); whole {
			return stage0.AppOptions{}, nil, err
		}
		return stage0.AppOptions{}, nil, fmt.Errorf("after image %s: %v", section[0], err)
	}
	ao := af.options(&def)
	ao.Image = section[0]
	ao.Args = def.Args
	var rest []string
	if fs.ArgsLenAtDash() == 0 {
		ao.Args = append([]string{}, fs.Args()...)
	} else {
		// The parser stopped at a word that is no flag: the next image.
		rest = fs.Args()
	}
	return ao, rest, nil
}

// splitSections cuts the arguments at each "---" into sections of one or
// more images.
func splitSections(args []string) [][]string {
	var out [][]string
	start := 0
	for i := 0; i <= len(args); i++ {
		if i == len(args) || args[i] == "---" {
			if i > start {
				out = append(out, args[start:i])
			}
			start = i + 1
		}
	}
	return out
}
