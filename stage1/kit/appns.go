package kit

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/rootless"
)

// AppNamespace is an app's mount namespace with the app's root set up in
// it but for /proc, made by stage1 while the init starts
// (MakeAppNamespace) and held by a descriptor: the init's thread that
// starts the app enters it (Enter) and forks the app there. A procfs shows
// the processes of its mounter's PID namespace, which stage1 is not in:
// /proc, and the masks on it, are the init's.
type AppNamespace struct{ fd int }

// procMasks and otherMasks are the masked paths in /proc, which the init
// covers (Enter), and the others, which MakeAppNamespace does.
var procMasks, otherMasks = splitMasks()

func splitMasks() (proc, other []string) {
	for _, p := range maskedPaths {
		if underProc(p) {
			proc = append(proc, p)
		} else {
			other = append(other, p)
		}
	}
	return proc, other
}

// underProc tells whether the absolute path p inside an app's root is
// /proc or below it.
func underProc(p string) bool {
	p = filepath.Clean("/" + p)
	return p == "/proc" || strings.HasPrefix(p, "/proc/")
}

// CanMakeAppNamespace tells whether app s's namespace can be made ahead.
// Not for a pod with private users, whose trees and volumes may be shown
// through a mapping only the init holds, nor a rootless one
// (CanBeginAppNamespace), nor an app with a volume or tmpfs on /proc,
// which the init's /proc, mounted after them, would hide.
func CanMakeAppNamespace(s *AppSpec) bool {
	return CanBeginAppNamespace(s) && !onProc(s)
}

// CanBeginAppNamespace is CanMakeAppNamespace without the app's volumes,
// which stage1 may add to while MakeAppNamespace begins: it reads them
// once it has the views, and fails if one is on /proc.
func CanBeginAppNamespace(s *AppSpec) bool {
	return s.Users == nil && !rootless.Inside()
}

// onProc tells whether app s has a volume or tmpfs on /proc.
func onProc(s *AppSpec) bool {
	for _, m := range s.Mounts {
		if underProc(m.Target) {
			return true
		}
	}
	for _, t := range s.Tmpfs {
		if underProc(t.Target) {
			return true
		}
	}
	return false
}

// MakeAppNamespace makes app s's mount namespace from the trees made
// ahead (SetUpDev), for an app that CanBeginAppNamespace, with s's
// cgroups as views, once it returns, shows them (s's volumes are read
// from then on, and none may be on /proc),
// its volumes and the masks outside /proc, and s's root as the
// namespace's root (pivot_root). pid is the pod's init, whose network
// namespace the app's /sys shows and whose IPC namespace its /dev/mqueue.
// It works on a thread of its own, which ends with it: a thread moved into
// another mount namespace and other namespaces is never handed back to
// the runtime.
func MakeAppNamespace(s *AppSpec, views func() ([]cgroup.View, error), a Ahead, pid int) (*AppNamespace, error) {
	var ns *AppNamespace
	var err error
	OnOwnThread(func() { ns, err = makeAppNamespace(s, views, a, pid) })
	if err != nil {
		return nil, fmt.Errorf("app %s: making its mount namespace ahead: %w", s.Name, err)
	}
	return ns, nil
}

func makeAppNamespace(s *AppSpec, views func() ([]cgroup.View, error), a Ahead, pid int) (*AppNamespace, error) {
	// The thread's own root, working folder and umask: a thread cannot
	// change mount namespace while it shares them.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("unsharing its file system attributes: %w", err)
	}
	for _, ns := range []struct {
		name string
		kind int
	}{{"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}} {
		if err := setnsOf(pid, ns.name, ns.kind); err != nil {
			return nil, err
		}
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("making it: %w", err)
	}
	// A copy of the host's mounts, sharing their propagation: nothing
	// mounted from here on may show on the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("making its mounts private: %w", err)
	}
	// Opened before pivot_root: the new root has no /proc yet.
	fd, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ns := &AppNamespace{fd: fd}
	err = SetUpDev(s, a.Dev, a.Root)
	if err == nil {
		// The mount point of the init's /proc, while the root may still
		// be written to (ReadOnlyRootfs).
		err = MkdirInRoot(s.Rootfs, "proc")
	}
	var v []cgroup.View
	if err == nil {
		// The root and its /dev are mounted while the cgroups are made.
		v, err = views()
	}
	if err == nil && onProc(s) {
		err = errors.New("a volume on /proc: the app's start mounts its root itself")
	}
	if err == nil {
		err = mountRest(s, v, otherMasks)
	}
	if err == nil {
		err = pivotRoot(s.Rootfs)
	}
	if err != nil {
		// The namespace ends with the thread.
		ns.Close()
		return nil, err
	}
	return ns, nil
}

// setnsOf moves the calling thread into process pid's namespace name.
func setnsOf(pid int, name string, kind int) error {
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the pod's %s namespace: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, kind); err != nil {
		return fmt.Errorf("joining the pod's %s namespace: %w", name, err)
	}
	return nil
}

// Enter makes the namespace the calling thread's, and its root, the
// app's, the thread's root and working folder, and mounts the app's /proc
// there, with its masks. The thread must be locked to its goroutine, and
// end with it.
func (n *AppNamespace) Enter() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unsharing its file system attributes: %w", err)
	}
	if err := unix.Setns(n.fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("entering the app's mount namespace: %w", err)
	}
	if err := mountProc("/"); err != nil {
		return err
	}
	return maskPaths("/", procMasks)
}

// FD is the namespace's descriptor, the caller's to duplicate.
func (n *AppNamespace) FD() int { return n.fd }

// Close lets go of the namespace; it ends with the last process in it.
func (n *AppNamespace) Close() {
	if n != nil && n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}
