package stage0

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/internal/errdefs"
	"podctl/internal/rootless"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// RootlessFlavor is the flavor of an ordinary user's pods, the one that
// runs without root.
const RootlessFlavor = "native"

// RootlessNet is the network of an ordinary user's pod when no --net is
// given: CNI networks need root on the host, so it has none but its own
// loopback.
const RootlessNet = "none"

// checkRootless refuses, when podctl acts for an ordinary user
// (rootless.Active), what such a pod cannot have, in one line each: a
// flavor but native, cgroup limits and device rules (nothing delegates
// cgroups to the user here: stage1's pod runs without any), and CNI
// networks. A pod given no --net gets RootlessNet.
func checkRootless(opts *PrepareOptions, flavor string) error {
	if !rootless.Active() {
		return nil
	}
	if flavor != RootlessFlavor {
		return errdefs.New(ErrUsage, "the %s flavor needs root: without root podctl runs the native flavor only (--stage1=native)", flavor)
	}
	for _, a := range opts.Apps {
		if a.Memory > 0 || a.CPU > 0 || a.PidsLimit > 0 {
			return errdefs.New(ErrUsage, "--memory, --cpu and --pids-limit need cgroups: %s: run the pod without them, or as root", delegation())
		}
	}
	if len(opts.Devices) > 0 {
		return errdefs.New(ErrUsage, "--device needs the devices cgroup, which only root can set: run the pod without it, or as root")
	}
	net := opts.Network.Net
	if len(net) == 0 {
		opts.Network.Net = []string{RootlessNet}
		return nil
	}
	for _, n := range net {
		if n != "none" && n != "host" {
			return errdefs.New(ErrUsage, "--net=%s: CNI networks need root: without root a pod has --net=none (the default) or --net=host", n)
		}
	}
	return nil
}

// nsGetOwnerUID is the ioctl that gives a user namespace's owner
// (NS_GET_OWNER_UID, linux/nsfs.h).
const nsGetOwnerUID = 0xb704

// enterUserNS enters app of a running pod of an ordinary user's (one
// without root entering it). The pod's namespaces belong to the user
// namespace its `podctl run` made, which a Go process cannot join (it has
// several threads): util-linux's nsenter, a single-threaded program, joins
// it and executes this podctl's enter again, root of that namespace, which
// then enters the app as root's enter does, with the app's restrictions.
// The namespace is that of the pod's stage1, proven by the pod's lock
// (stage1.CheckStage1Pid), and must be the user's own.
func enterUserNS(c Config, p *lifecycle.Pod, app string, cmd []string, stdio stage1.Stdio) (int, error) {
	pid, err := p.Pid()
	if err != nil {
		return 0, err
	}
	if pid == 0 {
		return 0, errdefs.New(ErrUsage, "pod %s has not started yet: try again", p.UUID)
	}
	// Pins the process: its pid cannot name another until it is closed.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("pod %s is not running: see podctl status %s", p.UUID, p.UUID)
	}
	defer unix.Close(pidfd)
	if err := stage1.CheckStage1Pid(p, pid); err != nil {
		return 0, fmt.Errorf("pod %s: %w: not entering it", p.UUID, err)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return 0, fmt.Errorf("entering pod %s: opening its user namespace: %w", p.UUID, err)
	}
	defer ns.Close()
	owner, err := unix.IoctlGetUint32(int(ns.Fd()), nsGetOwnerUID)
	if err != nil {
		return 0, fmt.Errorf("entering pod %s: reading its user namespace's owner: %w", p.UUID, err)
	}
	if int(owner) != os.Getuid() {
		return 0, fmt.Errorf("pod %s runs in a user namespace of uid %d, not yours: run podctl enter as that user", p.UUID, owner)
	}
	// Alive still: the namespace opened was the checked process's.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return 0, fmt.Errorf("pod %s is not running: see podctl status %s", p.UUID, p.UUID)
	}
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("finding podctl's binary: %w", err)
	}
	args := append([]string{"--dir", c.DataDir, "enter", "--app", app, p.UUID}, cmd...)
	code, err := kit.ReenterInUserNS(ns, self, args, []string{rootless.EnvInside + "=1", "PODCTL_DIR=" + c.DataDir}, stdio)
	if err != nil {
		return 0, fmt.Errorf("entering pod %s: %w", p.UUID, err)
	}
	return code, nil
}

// delegation says why an ordinary user's pod has no cgroup limits: the
// host delegates no cgroup to the user (cgroup v1 hierarchies, hybrid
// hosts included, are root's; on cgroup v2, the user's own cgroup is not
// the user's to write, or has no memory, cpu or pids controller), or it
// does, and podctl does not use it yet.
func delegation() string {
	var sfs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &sfs); err != nil || sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		return "this host keeps its cgroups in v1 hierarchies, which only root may write, and delegates none to users"
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "this host delegates no cgroup to you (your cgroup cannot be read)"
	}
	rel, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
	dir := filepath.Join("/sys/fs/cgroup", filepath.Clean("/"+rel))
	if !ok || unix.Access(filepath.Join(dir, "cgroup.subtree_control"), unix.W_OK) != nil {
		return "this host delegates no cgroup to you (your cgroup " + rel + " is not yours to write)"
	}
	ctl, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if !strings.Contains(" "+string(ctl), " memory") {
		return "the cgroup this host delegates to you (" + rel + ") has no memory controller"
	}
	return "the cgroup this host delegates to you (" + rel + ") is not used by podctl yet"
}
