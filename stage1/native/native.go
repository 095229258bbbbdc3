// Package native is the stage1 flavor that isolates a pod with Linux
// namespaces and nothing else: no booted init, no helper per app, no
// external runtime. It aims to start a pod as fast as crun does.
//
// Two processes are podctl's own:
//
//   - stage1 (`podctl stage1 run`) stays in the host's namespaces. It holds
//     the pod's lock, makes the pod's cgroups, starts the pod's init in new
//     mount, PID, UTS, IPC and network namespaces, passes signals to it and,
//     when it ends, removes the cgroups. Its exit code is the init's.
//   - the init (`podctl stage1 native-init`) is the pod's PID 1. It names
//     the pod's host, brings up lo, starts the apps, reaps every process of
//     the pod, records the apps' exit statuses and ends with the pod.
//
// Each app runs in a mount namespace of its own, made by a thread of the
// init that sets up the app's root (overlay, volumes, /proc, /dev, /sys,
// masked paths), pivots into it and forks the app from there: the app is
// the init's child, born in its cgroups and its root, with no process in
// between. Documentation/devel/stage1.md describes the layout.
package native

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/cgroup"
)

// Flavor is the native flavor.
type Flavor struct {
	stage1.CgroupControl
	// Self is the podctl binary to re-execute as the pod's init.
	Self string
}

const (
	helperInit = "native-init"
	helperExec = "native-exec"
	envConfig  = "PODCTL_NATIVE_POD"
	envSpec    = "PODCTL_APP_SPEC"
	// initCgroup is the init's own cgroup below the pod's. It is not an
	// app name: those never hold an underscore.
	initCgroup = "_init"
)

// podConfig is what stage1 hands the init, as JSON in its environment.
type podConfig struct {
	PodDir      string           `json:"pod_dir"`
	UUID        string           `json:"uuid"`
	Hostname    string           `json:"hostname"`
	Interactive bool             `json:"interactive,omitempty"`
	Debug       bool             `json:"debug,omitempty"`
	Cgroups     []string         `json:"cgroups"`
	Apps        []stage1.AppSpec `json:"apps"`
	// Views are each app's cgroups as the app sees them, by app name.
	Views map[string][]cgroup.View `json:"views"`
}

// Name is "native".
func (f *Flavor) Name() string { return "native" }

// Available reports whether the host has a cgroup hierarchy to keep pods
// in. The namespaces native needs are in every kernel podctl supports.
func (f *Flavor) Available() error { return cgroup.CheckTracking() }

// Helpers has the pod's init, and the exec helper of apps with
// per-process settings.
func (f *Flavor) Helpers() map[string]func([]string) int {
	return map[string]func([]string) int{helperInit: initMain, helperExec: execMain}
}

// Hostname is the host name of a pod's UTS namespace.
func Hostname(uuid string) string {
	if len(uuid) > 8 {
		uuid = uuid[:8]
	}
	return "podctl-" + uuid
}

// Run makes the pod's cgroups, starts its init in new namespaces and waits
// for it.
func (f *Flavor) Run(rc *stage1.RunContext) int {
	specs, err := stage1.AppSpecs(rc.PodDir, rc.UUID, rc.Manifest)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed
	}
	stage1.WritePodPid(rc.PodDir)
	g, err := stage1.NewPodCgroups(rc.PodDir, rc.UUID, specs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed
	}
	code := f.run(rc, g, specs)
	// The pod's PID namespace died with its init, and every process in it;
	// what is left to undo is the cgroups.
	if err := g.Kill(5 * time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	} else if err := g.Remove(); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	}
	return code
}

func (f *Flavor) run(rc *stage1.RunContext, g *cgroup.Group, specs []stage1.AppSpec) int {
	initDir, err := g.NewChild(initCgroup)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed
	}
	for i := range specs {
		// Each app has a cgroup of its own in the tracking hierarchy, where
		// enter finds its processes.
		dir, err := g.NewChild(specs[i].Name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
			return stage1.ExitStartFailed
		}
		specs[i].Cgroups = append([]string{dir}, specs[i].Cgroups[1:]...)
	}
	views := map[string][]cgroup.View{}
	for _, s := range specs {
		if views[s.Name], err = cgroup.Views(s.Cgroups); err != nil {
			fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
			return stage1.ExitStartFailed
		}
	}
	cfg := podConfig{
		PodDir:      rc.PodDir,
		UUID:        rc.UUID,
		Hostname:    Hostname(rc.UUID),
		Interactive: rc.Interactive,
		Debug:       rc.Debug,
		Cgroups:     append([]string{initDir}, g.Dirs[1:]...),
		Apps:        specs,
		Views:       views,
	}
	rc.Debugf("starting the pod's init")
	b, err := json.Marshal(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed
	}
	cmd := exec.Command(f.Self, stage1.Verb, helperInit)
	// What ps shows as the pod's PID 1.
	cmd.Args[0] = "podctl"
	cmd.Env = []string{envConfig + "=" + string(b)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		// The pod ends with its stage1: the kernel kills every process of
		// a PID namespace whose init dies.
		Pdeathsig: syscall.SIGKILL,
	}
	// Signals for the pod go to its init, which passes them to the apps.
	// Caught before the init starts, so that none is lost in between.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := stage1.StartWithErrPipe(cmd); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return exitCode(cmd)
	}
	rc.Debugf("init started as pid %d; every app is running", cmd.Process.Pid)
	stage1.NotifyReady()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	cmd.Wait()
	close(done)
	return exitCode(cmd)
}

// exitCode is the pod's exit code from its init's end: the init's own
// code, or 128+N if signal N killed it (SIGKILL from a user, most likely).
func exitCode(cmd *exec.Cmd) int {
	if cmd.ProcessState == nil {
		return stage1.ExitStartFailed
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Enter runs cmd in the namespaces and root of a running app. The app's
// processes are those of its cgroup; the one to enter is its main process,
// whose pid in the pod the init recorded.
func (f *Flavor) Enter(p *lifecycle.Pod, app string, cmd []string, stdio stage1.Stdio) (int, error) {
	nsPid, err := stage1.AppPidOf(p, app)
	if err != nil {
		return 0, err
	}
	dirs, err := stage1.PodCgroupDirs(p)
	if err != nil {
		return 0, err
	}
	if len(dirs) == 0 {
		return 0, fmt.Errorf("pod %s records no cgroup", p.UUID)
	}
	appDir := filepath.Join(dirs[0], app)
	pid := stage1.HostPidIn(appDir, nsPid)
	if pid == 0 {
		return 0, fmt.Errorf("app %s of pod %s has no running process", app, p.UUID)
	}
	return stage1.EnterNamespaces(pid, app, appDir, cmd, stdio)
}

var _ stage1.Flavor = (*Flavor)(nil)
