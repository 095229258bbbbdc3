// Package flavors knows every stage1 flavor built into podctl and runs the
// hidden `podctl stage1` verb.
package flavors

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/fly"
	"podctl/stage1/native"
	"podctl/stage1/systemd"
)

// Self is the podctl binary that stage0 and stage1 re-execute. Tests that
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

// Main runs `podctl stage1 ARGS...` and returns the exit code.
//
//	podctl stage1 run --flavor=NAME --lock-fd=N [--debug] POD_DIR
//	podctl stage1 HELPER ...   (a flavor's own helper)
func Main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "podctl stage1: missing entrypoint; this verb is for podctl itself")
		return stage1.ExitStartFailed
	}
	if args[0] != "run" {
		for _, f := range all() {
			if h, ok := f.Helpers()[args[0]]; ok {
				return h(args[1:])
			}
		}
		fmt.Fprintf(os.Stderr, "podctl stage1: unknown entrypoint %q\n", args[0])
		return stage1.ExitStartFailed
	}
	fs := flag.NewFlagSet("stage1 run", flag.ContinueOnError)
	name := fs.String("flavor", "", "stage1 flavor")
	lockFD := fs.Int("lock-fd", -1, "descriptor of the pod's lock")
	debug := fs.Bool("debug", false, "print progress")
	interactive := fs.Bool("interactive", false, "give the app the terminal")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 || *lockFD < 0 {
		fmt.Fprintln(os.Stderr, "podctl stage1 run: usage: --flavor=NAME --lock-fd=N POD_DIR")
		return stage1.ExitStartFailed
	}
	code, err := run(*name, *lockFD, *debug, *interactive, fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed
	}
	return code
}

func run(name string, lockFD int, debug, interactive bool, podDir string) (int, error) {
	f, err := Get(name)
	if err != nil {
		return 0, err
	}
	// Keep the lock to ourselves: helpers and apps must not hold it, so a
	// dead stage1 always reads as an exited pod.
	unix.CloseOnExec(lockFD)
	lock := os.NewFile(uintptr(lockFD), "pod-lock")
	// No mover touches the pod without its lock, which we hold: the path
	// stays valid for the pod's life.
	b, err := os.ReadFile(filepath.Join(podDir, lifecycle.FileManifest))
	if err != nil {
		return 0, fmt.Errorf("reading pod manifest: %w", err)
	}
	var m schema.PodManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("reading pod manifest: %w", err)
	}
	rc := &stage1.RunContext{PodDir: podDir, UUID: filepath.Base(podDir), Lock: lock, Manifest: &m, Interactive: interactive, Debugf: func(string, ...any) {}}
	if debug {
		rc.Debug = true
		rc.Debugf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "stage1: "+format+"\n", args...)
		}
	}
	return f.Run(rc), nil
}
