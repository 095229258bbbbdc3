// Package fly is the stage1 flavor without isolation: each app runs in a
// chroot of its own root, with the host's /dev and /sys and its own /proc,
// in the host's PID, network, IPC and UTS namespaces. It is for privileged
// host tools, as rkt's fly was.
//
// Each app's mounts (its overlay root, /proc, /sys, /dev) are made in a
// private mount namespace that the app's helper process creates. The
// kernel takes them down when the app's last process exits, so a pod
// never leaves a mount on the host, whatever killed it, and gc has no mount
// to find. The apps' processes are kept in the pod's cgroup, so those that
// changed user (losing their parent-death signal) or left their parent are
// still found and killed by stop --force and gc.
package fly

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// Flavor is the fly flavor.
type Flavor struct {
	kit.CgroupControl
	// Self is the podctl binary to re-execute for helpers.
	Self string
}

const (
	helperApp = "fly-app"
	envSpec   = "PODCTL_APP_SPEC"
)

// Name is "fly".
func (f *Flavor) Name() string { return "fly" }

// JoinsNoNetwork says that a fly pod has the host's network
// (stage1.NetworkLess): it attaches none, so gc releases none.
func (f *Flavor) JoinsNoNetwork() {}

// Available reports whether there is a cgroup hierarchy to keep the pod's
// processes in: fly needs nothing else.
func (f *Flavor) Available() error { return cgroup.CheckTracking() }

// Helpers has the helper that becomes one app.
func (f *Flavor) Helpers() map[string]func([]string) int {
	return map[string]func([]string) int{helperApp: appMain}
}

// Run starts every app and supervises them to the end.
func (f *Flavor) Run(rc *stage1.RunContext) (int, error) {
	pod, err := kit.Begin(rc, kit.Prologue{AppCgroups: true})
	if err != nil {
		return 0, err
	}
	defer pod.End()
	specs := pod.Specs
	if len(specs[0].Devices) > 0 {
		// stage0 refuses it; a pod manifest from elsewhere is held to the
		// same rule.
		return 0, fmt.Errorf("the pod is given devices (--device), and fly has no device policy to give them in: its apps see the host's /dev")
	}
	for i := range specs {
		specs[i].DieWith = os.Getpid()
	}
	return kit.Supervise(rc, specs, func(s *kit.AppSpec, stdio stage1.Stdio) (kit.Proc, error) {
		enc, err := kit.EncodeSpec(s)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(f.Self, stage1.Verb, helperApp)
		cmd.Env = []string{envSpec + "=" + enc}
		stdio.Apply(cmd)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			// A session of its own, as with the other flavors: Ctrl-C on
			// the caller's terminal reaches stage1, which stops the apps,
			// not the apps themselves. An app with the terminal stays in
			// the caller's session, whose terminal it is.
			Setsid:       !rc.Interactive,
			Unshareflags: syscall.CLONE_NEWNS,
			// The app dies with its stage1, so a stage1 killed outright
			// leaves no app behind to hold the pod's mounts.
			Pdeathsig: syscall.SIGKILL,
		}
		if err := kit.StartWithErrPipe(cmd); err != nil {
			return nil, err
		}
		return kit.CmdProc{Cmd: cmd}, nil
	}, func() {
		// What the apps left running (daemons they started) ends with the
		// pod, before its logs are drained: it may hold their output open.
		pod.End()
	}, kit.Hooks{Warn: rc.Warn}), nil
}

// appMain runs in the helper, in its new mount namespace: it mounts the
// app's root, chroots into it and executes the app.
func appMain(args []string) int {
	kit.HelperInit()
	s, err := kit.DecodeSpec(os.Getenv(envSpec))
	if err != nil {
		return kit.HelperFail(err)
	}
	if err := kit.JoinCgroups(s); err != nil {
		return kit.HelperFail(err)
	}
	if err := setupRoot(s); err != nil {
		return kit.HelperFail(fmt.Errorf("app %s: %w", s.Name, err))
	}
	return kit.HelperFail(kit.ExecApp(s, nil))
}

func setupRoot(s *kit.AppSpec) error {
	// The namespace was made with every mount private (Go's os/exec does
	// that for CLONE_NEWNS): nothing mounted here reaches the host.
	if s.Lower != "" {
		if err := kit.MountOverlay(s); err != nil {
			return err
		}
	} else if s.ReadOnlyRootfs {
		// A mount of its own, to make read-only.
		if err := kit.BindRoot(s.Rootfs); err != nil {
			return err
		}
	}
	if err := kit.MountVolumes(s); err != nil {
		return err
	}
	return kit.EnterRoot(s)
}

// Enter runs cmd in a running app with what a fly app has: its root (a
// chroot in its own mount namespace), its cgroups, its user and group,
// and nothing taken away (kit.EnterApp, not confined).
func (f *Flavor) Enter(p *lifecycle.Pod, app string, cmd []string, stdio stage1.Stdio) (int, error) {
	pid, err := kit.AppPidOf(p, app)
	if err != nil {
		return 0, err
	}
	return kit.EnterApp(p, kit.EnterTarget{App: app, Pid: pid}, cmd, stdio)
}

var _ stage1.Flavor = (*Flavor)(nil)
