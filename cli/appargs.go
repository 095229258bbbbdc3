package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"podctl/stage0"
)

// appFlags are the per-app flags. Given before the first image they apply
// to every app; after an image, to that image's app only. --name is the
// exception: after an image it names the app, and before the first image
// it is the pod's own flag, which names the pod (podFlags).
type appFlags struct {
	stage0.AppOptions
	env     []string
	secrets []string
	mounts  []string
	rlimits []string
}

// add registers the flags on fs, with def's values as defaults. withName
// adds the app's --name, which only an image's own flags have.
func (a *appFlags) add(fs *pflag.FlagSet, def *stage0.AppOptions, withName bool) {
	if withName {
		fs.StringVar(&a.Name, "name", "", "name of the app (default: the last part of the image name)")
	}
	fs.StringVar(&a.Exec, "exec", def.Exec, "command to run instead of the image's")
	fs.StringArrayVar(&a.env, "environment", nil, "set KEY=VALUE in the app's environment (repeatable)")
	fs.StringArrayVar(&a.secrets, "environment-secret", nil, "set NAME in the app's environment to the content of FILE, read when the pod starts and never stored: NAME=FILE (repeatable)")
	fs.StringVar(&a.User, "user", def.User, "user to run as: a number or a name from the image's /etc/passwd")
	fs.StringVar(&a.Group, "group", def.Group, "group to run as: a number or a name from the image's /etc/group")
	fs.StringVar(&a.WorkingDir, "working-dir", def.WorkingDir, "working directory of the app")
	fs.StringArrayVar(&a.mounts, "mount", nil, "put a pod volume into the app: volume=NAME,target=/PATH (repeatable)")
	fs.StringVar(&a.Memory, "memory", def.Memory, "memory limit of the app, such as 64M or 1G: past it the app is killed (OOMKilled)")
	fs.StringVar(&a.CPU, "cpu", def.CPU, "CPU limit of the app, in cores (2) or thousandths of one (500m)")
	a.PidsLimit = def.PidsLimit
	fs.Var(pidsLimit{&a.PidsLimit}, "pids-limit", "most processes (and threads) the app may have at once, at least 1 (default: no limit)")
	a.OOMScoreAdj = def.OOMScoreAdj
	fs.Var(optionalInt{&a.OOMScoreAdj}, "oom-score-adj", "the app's oom_score_adj, -1000 (never killed for want of memory) to 1000 (killed first)")
	fs.StringArrayVar(&a.rlimits, "rlimit", nil, "a resource limit of the app: NAME=SOFT[:HARD], such as nofile=1024:4096 or core=unlimited (repeatable)")
}

// optionalInt is an int flag that can be left unset: it points *p at the
// value given.
type optionalInt struct{ p **int }

func (o optionalInt) String() string {
	if *o.p == nil {
		return ""
	}
	return strconv.Itoa(**o.p)
}

func (o optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*o.p = &n
	return nil
}

func (o optionalInt) Type() string { return "int" }

// pidsLimit is the --pids-limit flag: a number of processes, at least 1.
// Left out, the app has no limit; 0 is refused rather than read as "none"
// or "nothing may run".
type pidsLimit struct{ p *int }

func (l pidsLimit) String() string {
	if l.p == nil || *l.p == 0 {
		return ""
	}
	return strconv.Itoa(*l.p)
}

func (l pidsLimit) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	if n < 1 {
		what := "is below 1"
		if n < 0 {
			what = "is negative"
		}
		return fmt.Errorf("%d %s: give at least 1, or leave the flag out for no limit", n, what)
	}
	*l.p = n
	return nil
}

func (l pidsLimit) Type() string { return "int" }

// options returns the app's options, its environment, mounts and limits
// added to def's.
func (a *appFlags) options(def *stage0.AppOptions) stage0.AppOptions {
	ao := a.AppOptions
	ao.Env = append(append([]string(nil), def.Env...), a.env...)
	ao.EnvSecrets = append(append([]string(nil), def.EnvSecrets...), a.secrets...)
	ao.Mounts = append(append([]string(nil), def.Mounts...), a.mounts...)
	ao.Rlimits = append(append([]string(nil), def.Rlimits...), a.rlimits...)
	return ao
}

// parseApps reads the image part of a run or prepare command line:
//
//	IMAGE [APP FLAGS] [-- ARGS...] [--- IMAGE [APP FLAGS] [-- ARGS...]]...
func parseApps(def stage0.AppOptions, args []string) ([]stage0.AppOptions, error) {
	var apps []stage0.AppOptions
	for _, section := range splitSections(args) {
		var af appFlags
		fs := pflag.NewFlagSet(section[0], pflag.ContinueOnError)
		fs.SetInterspersed(false)
		fs.Usage = func() {}
		af.add(fs, &def, true)
		if err := fs.Parse(section[1:]); err != nil {
			return nil, fmt.Errorf("after image %s: %v", section[0], err)
		}
		ao := af.options(&def)
		ao.Image = section[0]
		ao.Args = def.Args
		if fs.ArgsLenAtDash() == 0 {
			ao.Args = append([]string{}, fs.Args()...)
		} else if fs.NArg() > 0 {
			return nil, fmt.Errorf("after image %s: unexpected %q: put app arguments after \"--\" and separate images with \"---\"", section[0], fs.Arg(0))
		}
		apps = append(apps, ao)
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("no image given: see --help")
	}
	return apps, nil
}

// splitSections cuts the arguments at each "---" into one section per image.
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
