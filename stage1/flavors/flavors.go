// Package flavors knows every stage1 flavor built into podctl and runs the
// hidden `podctl stage1` verb.
package flavors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/fly"
	"podctl/stage1/kit"
	"podctl/stage1/native"
	"podctl/stage1/systemd"
)

// Self is the podctl binary that flavors re-execute for their helpers. Tests that
// drive the library directly point it at a built binary.
var Self = "/proc/self/exe"

// Default is the flavor used when none is chosen: systemd where it can run,
// fly elsewhere.
func Default() string {
	if (&systemd.Flavor{}).Available() == nil {
		return "systemd"
	}
	return "fly"
}

func all() []stage1.Flavor {
	return []stage1.Flavor{&systemd.Flavor{Self: Self}, &native.Flavor{Self: Self}, &fly.Flavor{Self: Self}}
}

// Get returns the flavor called name.
func Get(name string) (stage1.Flavor, error) {
	for _, f := range all() {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("unknown stage1 flavor %q: choose one of %v", name, Names())
}

// Names lists the flavors' names.
func Names() []string {
	var out []string
	for _, f := range all() {
		out = append(out, f.Name())
	}
	sort.Strings(out)
	return out
}

// ForPod returns the flavor recorded in a pod.
func ForPod(p *lifecycle.Pod) (stage1.Flavor, error) {
	name, err := p.Flavor()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("pod %s records no stage1 flavor", p.UUID)
	}
	return Get(name)
}

// Main runs `podctl stage1 HELPER ARGS...`, a flavor's own helper, and
// returns its exit code.
func Main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "podctl stage1: missing entrypoint; this verb is for podctl itself")
		return stage1.ExitStartFailed
	}
	// Every flavor's enter helper is the same.
	if args[0] == kit.HelperEnter {
		return kit.EnterMain(args[1:])
	}
	for _, f := range all() {
		if h, ok := f.Helpers()[args[0]]; ok {
			return h(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "podctl stage1: unknown entrypoint %q\n", args[0])
	return stage1.ExitStartFailed
}

// RunOptions are how stage0 hands a pod to its flavor.
type RunOptions struct {
	// Debug prints stage1's progress on stderr.
	Debug bool
	// Interactive gives the pod's single app the terminal.
	Interactive bool
	// Task is the pod's time limit, standard input and restart policy.
	Task stage1.Task
	// Early is what the flavor started before the pod was prepared
	// (stage1.EarlyStarter), or nil.
	Early stage1.Early
	// Warn tells the user of a failure that does not end the pod.
	Warn func(error)
}

// RunPod becomes stage1 of pod p, of flavor f (ForPod), which this
// process holds locked in run/, and returns the pod's exit code once it has ended. An error means
// that the pod could not be run (Flavor.Run).
func RunPod(f stage1.Flavor, p *lifecycle.Pod, opts RunOptions) (int, error) {
	// No mover touches the pod without its lock, which we hold.
	_, m, err := p.PodManifest()
	if err != nil {
		return 0, fmt.Errorf("stage1 of pod %s: %w", p.UUID, err)
	}
	warn := opts.Warn
	if warn == nil {
		// A caller that gives none (a test driving the library) still
		// hears of it.
		warn = func(err error) { fmt.Fprintf(os.Stderr, "podctl: %v\n", err) }
	}
	rc := &stage1.RunContext{Pod: p, Manifest: m, Interactive: opts.Interactive, Task: opts.Task, Early: opts.Early, Debugf: func(string, ...any) {}, Warn: warn}
	if opts.Debug {
		rc.Debug = true
		rc.Debugf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "stage1: "+format+"\n", args...)
		}
	}
	// This process copies the apps' output to the caller's stdout and
	// stderr, and must outlive their readers.
	kit.KeepOnClosedOutput()
	trace.Mark("flavor run")
	code, err := f.Run(rc)
	if err != nil {
		if _, rerr := p.ReadFile(lifecycle.FileResult); errors.Is(rerr, fs.ErrNotExist) {
			// The pod could not be run (a limit the kernel refused, say):
			// its result says why, where it would read as a stage1 killed.
			kit.RecordResult(p, 0, kit.Ending{Lost: err.Error()}, warn)
		}
	}
	return code, err
}
