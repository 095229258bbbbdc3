// Package stage1 is the boundary between stage0 (the podctl command a user
// runs) and the flavors that isolate and run pods.
//
// Every entrypoint of a flavor is a Go call that stage0 makes on a pod it
// has opened. Run is the pod: the `podctl run` process, holding the pod's
// lock, calls it once the pod is in run/, and lives as long as the pod
// does; Enter, Stop and GC are calls of other podctl commands. A flavor's
// helpers are re-executions of the binary as `podctl stage1 HELPER`.
// Documentation/devel/stage1.md describes the contract and its version.
package stage1

import (
	"os"
	"os/exec"
	"time"

	"github.com/appc/spec/schema"

	"podctl/lifecycle"
)

// InterfaceVersion is the version of the stage0/stage1 contract described in
// Documentation/devel/stage1.md. It changes whenever what stage0 writes into
// a pod, or what a flavor must record, changes incompatibly.
const InterfaceVersion = 1

// Verb is the hidden first argument that makes podctl run as stage1.
const Verb = "stage1"

// RunContext is what a flavor's Run gets.
type RunContext struct {
	// Pod is the pod, in run/, that stage0 holds locked: the lock is held
	// for as long as this process lives, and the pod reads as exited once
	// it is gone. stage1 writes the pod's files through it.
	Pod *lifecycle.Pod
	// Manifest is the pod manifest stage0 wrote.
	Manifest *schema.PodManifest
	// Interactive gives the pod's single app the caller's terminal.
	Interactive bool
	// Task says how the pod runs as a task: its time limit, its standard
	// input, its apps' restarts.
	Task Task
	// Early is what the flavor started before the pod was prepared, if it
	// is an EarlyStarter; nil otherwise.
	Early Early
	// Debug is set when the user asked for --debug.
	Debug bool
	// Debugf prints progress on stderr when the user asked for --debug.
	Debugf func(format string, args ...any)
	// Warn tells the user of a failure that does not end the pod (a log
	// not written, a cgroup not removed). The caller prints it: stage1
	// code returns its errors or hands them to Warn, and prints nothing
	// itself.
	Warn func(error)
}

// Flavor is one way of isolating and running a pod.
type Flavor interface {
	// Name is the flavor's name as --stage1 takes it.
	Name() string
	// Available reports why the flavor cannot run on this host, or nil.
	Available() error
	// Run becomes the pod: it sets up isolation, starts every app, waits for
	// them, records their exit statuses and the pod's result, and returns
	// the pod's exit code. An error means that stage1 could not run the pod
	// (no app started, or it lost the pod): the caller says why, and the
	// exit code is ExitStartFailed.
	Run(rc *RunContext) (int, error)
	// Enter runs cmd inside a running app of the pod and returns its exit code.
	Enter(p *lifecycle.Pod, app string, cmd []string, stdio Stdio) (int, error)
	// Stop asks the pod to stop; with force it kills it.
	Stop(p *lifecycle.Pod, force bool) error
	// Pause freezes every process of the running pod, waiting up to
	// timeout for the kernel to stop them all; Resume thaws them.
	Pause(p *lifecycle.Pod, timeout time.Duration) error
	Resume(p *lifecycle.Pod) error
	// KillLeftovers kills every process left in the pod's cgroups once
	// its stage1 is gone: what the apps started in the background. It is
	// called with the pod exclusively locked, before the pod reads as
	// collected.
	KillLeftovers(p *lifecycle.Pod) error
	// GC undoes what Run left behind (mounts, processes, cgroups), also when
	// Run died half way. It is called with the pod exclusively locked, before
	// the pod directory is removed.
	GC(p *lifecycle.Pod) error
	// Helpers are the flavor's own hidden sub-verbs of `podctl stage1`, run
	// in re-executed child processes (a process in a new namespace, say).
	Helpers() map[string]func(args []string) int
}

// Task is how a pod runs as a task or a workload, beyond its manifest.
type Task struct {
	// Timeout, if not zero, is how long the pod may run: then stage1 stops
	// it, records the result timeout, and the pod's exit code is
	// ExitTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Stdin gives the first app stage1's standard input (without a
	// terminal), which the app sees closed when it is.
	Stdin bool `json:"stdin,omitempty"`
	// Restart is when stage1 starts an app again after it ends.
	Restart RestartPolicy `json:"restart,omitempty"`
	// ReadyNotify makes an app ready once it sends READY=1 on
	// $NOTIFY_SOCKET (the sd_notify protocol) rather than once started.
	ReadyNotify bool `json:"ready_notify,omitempty"`
}

// ExitTimeout is podctl run's exit code when the pod's --timeout is up, as
// timeout(1)'s.
const ExitTimeout = 124

// ExitStartFailed is the pod's exit code when an app could not be started:
// podctl's own failure, not an app's.
const ExitStartFailed = 254

// NetworkLess is a flavor whose pods join no network of their own: they
// have the host's. gc has no network to release after such a pod.
type NetworkLess interface {
	JoinsNoNetwork()
}

// EarlyStarter is a flavor that can start part of a pod before stage0 has
// prepared it, so that its start-up overlaps stage0's work; Run gets it
// back in RunContext.Early.
type EarlyStarter interface {
	StartEarly(o EarlyOptions) (Early, error)
}

// EarlyOptions is what an early start knows of the pod it starts for:
// what the user asked, before the pod manifest exists. Run checks it
// against the manifest and starts afresh if they differ.
type EarlyOptions struct {
	// HostNetwork: the pod has the host's network (--net=host).
	HostNetwork bool
}

// Early is what an EarlyStarter started.
type Early interface {
	// Abort ends it, when the pod is not run after all.
	Abort()
}

// Stdio are the standard streams of a command entered into a pod, or of
// an app. A nil one is /dev/null.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// Apply gives cmd the streams. A nil *os.File must not reach os/exec as
// such: in an io.Reader it is not nil, and the child would start with the
// descriptor closed.
func (s Stdio) Apply(cmd *exec.Cmd) {
	if s.Stdin != nil {
		cmd.Stdin = s.Stdin
	}
	if s.Stdout != nil {
		cmd.Stdout = s.Stdout
	}
	if s.Stderr != nil {
		cmd.Stderr = s.Stderr
	}
}
