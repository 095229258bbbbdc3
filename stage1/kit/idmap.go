package kit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"podctl/stage1"
)

// A pod with private users (--private-users) runs its apps in user
// namespaces that map the pod's ids to a host range of its own. The image
// trees and volumes an app sees keep their ids on disk (the image's,
// root's for a host volume) and are shown to the app through idmapped
// mounts (Linux 5.19 for overlayfs' layers), which map disk id N to the
// pod's id N: nothing is copied. A pod prepared with chown ownership has a copy of each tree,
// chowned by stage0, and needs no map for it.

// mapsTrees tells whether s's image tree and own folder are shown
// through idmapped mounts of its Userns; its volumes are whenever it has
// one (mapsVolumes).
func (s *AppSpec) mapsTrees() bool {
	return s.mapsVolumes() && s.Users.Ownership == stage1.OwnershipMap
}

// mapsVolumes tells whether s's volumes are shown through idmapped mounts:
// host folders keep their owners on disk, which the pod sees as its own.
func (s *AppSpec) mapsVolumes() bool {
	return s.Users != nil && s.Userns != nil
}

// idmapOnItself covers path, in the calling thread's mount namespace, with
// an idmapped mount of itself (not of the mounts below it).
func idmapOnItself(path string, userns *os.File) error {
	return idmapBind(path, path, userns, false)
}

// idmapBind binds src on dst through userns's mapping, with the mounts
// below src if recursive. dst must exist.
func idmapBind(src, dst string, userns *os.File, recursive bool) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	at := uint(0)
	if recursive {
		flags |= unix.AT_RECURSIVE
		at = unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
	if err != nil {
		return fmt.Errorf("idmapping %s: open_tree: %w", src, err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|at, attr); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("idmapping %s: its file system cannot be idmapped here (%w): prepare the pod with --private-users-ownership=chown", src, err)
		}
		return fmt.Errorf("idmapping %s: mount_setattr: %w", src, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("idmapping %s: move_mount: %w", src, err)
	}
	return nil
}

// idmapTrees shows s's image tree through the pod's
// mapping, on itself, before the root is mounted. The overlay's upper
// folder is not mapped: overlayfs writes it with the ids of the process
// writing, the host's (the pod's root is the host's Users.UID), and stage0
// gives the folder, empty, to the pod's root.
func idmapTrees(s *AppSpec) error {
	if s.Lower == "" {
		// stage0 chowns a copy: podctl makes mount points in the root,
		// as the host's root, which an idmapped mount would refuse.
		return fmt.Errorf("the app's tree is a copy, which the pod's users can only own chowned (--private-users-ownership=chown)")
	}
	lower, err := filepath.EvalSymlinks(s.Lower)
	if err != nil {
		return fmt.Errorf("idmapping the app's tree: %w", err)
	}
	return idmapOnItself(lower, s.Userns)
}

// ownerOptions are the options that give a file system podctl mounts in
// an app's root (its /dev, shm, tmpfs folders) to the pod's root: uid=,gid=
// with gid the pod's gid gid (devpts' tty group). Empty without private
// users.
func (s *AppSpec) ownerOptions(gid uint32) string {
	if s.Users == nil {
		return ""
	}
	return ",uid=" + strconv.FormatUint(uint64(s.Users.HostUID(0)), 10) + ",gid=" + strconv.FormatUint(uint64(s.Users.HostGID(gid)), 10)
}

// SetUserNamespace gives a process about to be started its user
// namespace, if the pod has private users: a new one, with the pod's
// mapping, written by the starting process (which must be root on the
// host), since a Go program cannot join one (setns refuses a process with
// threads). Every app of the pod, and every command entered in one, has
// the same mapping, so they share their ids and files.
func SetUserNamespace(attr *syscall.SysProcAttr, u *stage1.PrivateUsers) {
	if u == nil {
		return
	}
	attr.Cloneflags |= syscall.CLONE_NEWUSER
	attr.UidMappings = u.UIDMappings()
	attr.GidMappings = u.GIDMappings()
	attr.GidMappingsEnableSetgroups = true
	// The process is the host's root, which the namespace does not map:
	// it becomes the pod's root before it executes, or it would execute
	// with no capabilities.
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
}

// MountTree mounts an app's overlay root, its image tree shown through the
// pod's mapping when the pod maps its trees, for a flavor that mounts the
// roots before SetUpRoot runs (the systemd flavor's boot helper, in the
// host's user namespace). A root that is a copy needs nothing.
func MountTree(s *AppSpec) error {
	if s.Lower == "" {
		return nil
	}
	if s.mapsTrees() {
		if err := idmapTrees(s); err != nil {
			return err
		}
	}
	return MountOverlay(s)
}

// BindIdmapped binds src on dst through userns's mapping (with the mounts
// below src if recursive): files owned by disk id N are shown as the
// pod's id N. dst must exist.
func BindIdmapped(src, dst string, userns *os.File, recursive bool) error {
	return idmapBind(src, dst, userns, recursive)
}

// NewUserNamespace makes a user namespace with u's mapping, through which
// a flavor idmaps the pod's trees (the namespace the apps run in is made
// with each of them). A process is needed to make one: podctl's helper
// verb, executed from self in a new user namespace and held only until the
// namespace is open; the namespace lives as long as the descriptor. The
// maps are written through /proc/PID: the caller's /proc must be of its
// own PID namespace. A caller whose reaper waits for every child (native's
// init) passes reaped: the helper's end is then its reaper's to collect.
func NewUserNamespace(self *os.File, verb string, u *stage1.PrivateUsers, reaped bool) (*os.File, error) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	SetUserNamespace(attr, u)
	// The maps are written before the helper executes: once it has, the
	// namespace is whole. Started without os/exec, whose first start
	// checks the kernel's pidfd support with a fork of the whole caller
	// (StartChild).
	c, status, err := StartChild(ChildSpec{
		// Through the descriptor: the binary's folders need not let the
		// pod's root through.
		Path:  "/proc/self/fd/4",
		Args:  []string{"podctl", stage1.Verb, verb},
		Env:   []string{},
		Dir:   "/",
		Files: []*os.File{nil, nil, nil, self},
		Sys:   attr,
	})
	if err != nil {
		return nil, fmt.Errorf("making the pod's user namespace: %w", err)
	}
	// The holder never reports: it waits to be killed.
	status.Close()
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", c.Pid))
	c.Signal(syscall.SIGKILL)
	if !reaped {
		c.Wait()
	}
	if err != nil {
		return nil, fmt.Errorf("making the pod's user namespace: %w", err)
	}
	return ns, nil
}

// UsernsHolderMain is the helper NewUserNamespace executes: it waits to
// be killed.
func UsernsHolderMain([]string) int {
	for {
		unix.Pause()
	}
}
