package kit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
)

// maskedPaths are the kernel files and folders an app must not read: they
// show the host's keys, memory, timers or hardware. Files are covered with
// /dev/null, folders with an empty read-only tmpfs. The same list as runc's.
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
	"/sys/devices/virtual/powercap",
}

// readOnlyPaths are the parts of /proc through which an app could change
// the host's kernel.
var readOnlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// devices are the device nodes of an app's /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// devLinks are the symbolic links of an app's /dev.
var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	{"pts/ptmx", "ptmx"},
}

// SetUpRoot mounts the app's root and what goes in it, then makes it the
// calling thread's root. Call it in the app's new mount namespace, whose
// mounts are private. It is SetUpDev, then FinishRoot.
func SetUpRoot(s *AppSpec, views []cgroup.View) error {
	if err := SetUpDev(s, nil, nil); err != nil {
		return err
	}
	return FinishRoot(s, views)
}

// SetUpDev mounts the app's root and its /dev: the root made ahead
// (MakeRootTree), or, if tree is nil, mounted here; dev, made ahead
// (MakeDevTree), or, if nil, a new one with its nodes made here, the part
// of SetUpRoot that needs mknod, which the app's v1 device cgroup refuses:
// native's forking thread calls it from outside that cgroup; the systemd
// flavor's exec helper, inside it, gets binds of the host's nodes
// (makeNode).
func SetUpDev(s *AppSpec, dev *DevTree, tree *RootTree) error {
	root := s.Rootfs
	if s.mapsTrees() {
		if err := idmapTrees(s); err != nil {
			return err
		}
	}
	if tree != nil {
		if err := tree.attach(root); err != nil {
			return err
		}
	} else if s.Lower != "" {
		if err := MountOverlay(s); err != nil {
			return err
		}
	} else if err := BindRoot(root); err != nil {
		// pivot_root needs the new root to be a mount.
		return err
	}
	if dev != nil {
		return dev.attach(root, s)
	}
	if err := mountDev(root, s); err != nil {
		return err
	}
	return makeDevices(root, s.Devices, s.Users)
}

// FinishRoot mounts the rest of the app's root (/proc, /sys, its cgroups,
// its volumes, the masks), after SetUpDev, and makes it the root of the
// calling thread, and of every process of its mount namespace that has
// the thread's old root: pivot_root moves them all, such as an exec helper
// forked in between.
func FinishRoot(s *AppSpec, views []cgroup.View) error {
	if err := mountProc(s.Rootfs); err != nil {
		return err
	}
	if err := mountRest(s, views, maskedPaths); err != nil {
		return err
	}
	return pivotRoot(s.Rootfs)
}

// mountRest mounts what goes in the app's root after /proc (/sys, its
// cgroups, its volumes, the masks of masks) and makes the root read-only
// if it is to be.
func mountRest(s *AppSpec, views []cgroup.View, masks []string) error {
	root := s.Rootfs
	if err := mountSys(root, views); err != nil {
		return err
	}
	if err := mountCgroups(root, views); err != nil {
		return err
	}
	if err := MountVolumes(s); err != nil {
		return err
	}
	// Last, so that no volume lands on top of a mask.
	if err := maskPaths(root, masks); err != nil {
		return err
	}
	if s.ReadOnlyRootfs {
		return ReadOnlyRoot(root)
	}
	return nil
}

// mountSys gives the app a read-only /sys. A new sysfs shows the
// network devices of the mounting process's network namespace, and the
// kernel lets only root of the user namespace that owns that namespace
// mount one. Where the caller is not that root (a rootless pod in the
// host's network; a systemd pod with private users, on a network the
// host's root made), the caller's /sys is bound instead, read-only all the
// way down (mount_setattr only adds flags, so those the host's mounts lock
// stay), and its cgroup folder is covered, for the app to see its own
// cgroups there (mountCgroups), never the host's or the pod's.
func mountSys(root string, views []cgroup.View) error {
	const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	err := mountIn(root, "sys", "sysfs", "sysfs", flags, "")
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	dst := filepath.Join(root, "sys")
	if err := unix.Mount("/sys", dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding /sys: %w", err)
	}
	if err := sealTree(dst, true); err != nil {
		return err
	}
	if len(views) > 0 {
		return nil
	}
	cg := filepath.Join(dst, "fs/cgroup")
	if _, err := os.Lstat(cg); err != nil {
		return nil
	}
	if err := unix.Mount("tmpfs", cg, "tmpfs", flags, "mode=755,size=4k"); err != nil {
		return fmt.Errorf("covering /sys/fs/cgroup: %w", err)
	}
	return nil
}

// BindRoot binds the app's root on itself, with the mounts below it,
// making it a mount of its own.
func BindRoot(root string) error {
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding root: %w", err)
	}
	return nil
}

// mountIn mounts a file system on folder dir of root, making the folder
// (without following links) if the image has none.
func mountIn(root, dir, src, fstype string, flags uintptr, data string) error {
	if err := MkdirInRoot(root, dir); err != nil {
		return err
	}
	if err := unix.Mount(src, filepath.Join(root, dir), fstype, flags, data); err != nil {
		return fmt.Errorf("mounting /%s: %w", dir, err)
	}
	return nil
}

// mountProc mounts the pod's /proc, with the paths that reach the host's
// kernel read-only.
func mountProc(root string) error {
	if err := mountIn(root, "proc", "proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	for _, p := range readOnlyPaths {
		dst := filepath.Join(root, p)
		if err := unix.Mount(dst, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("protecting %s: %w", p, err)
		}
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("protecting %s: %w", p, err)
		}
	}
	return nil
}

// mountDev gives the app a /dev of its own: a tmpfs with the usual devices,
// its own pseudo-terminals, shared memory and message queues.
func mountDev(root string, s *AppSpec) error {
	if err := mountIn(root, "dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"+s.ownerOptions(0)); err != nil {
		return err
	}
	dev := filepath.Join(root, "dev")
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devices {
		if err := makeDevice(dev, d.name, d.major, d.minor); err != nil {
			return fmt.Errorf("making /dev/%s: %w", d.name, err)
		}
	}
	for _, l := range devLinks {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return fmt.Errorf("making /dev/%s: %w", l[1], err)
		}
	}
	return devSubmounts(dev, s)
}

// devSubmounts mounts the app's own pseudo-terminals, shared memory and
// message queues in its /dev, dev.
func devSubmounts(dev string, s *AppSpec) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, m := range []struct {
		dir, fstype string
		flags       uintptr
		data        string
	}{
		{"pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620" + ptsGroup(s)},
		{"shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "mode=1777,size=65536k" + s.ownerOptions(0)},
		{"mqueue", "mqueue", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	} {
		if err := os.Mkdir(filepath.Join(dev, m.dir), 0o755); err != nil {
			return fmt.Errorf("making /dev/%s: %w", m.dir, err)
		}
		if err := unix.Mount(m.fstype, filepath.Join(dev, m.dir), m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mounting /dev/%s: %w", m.dir, err)
		}
	}
	return nil
}

// ptsGroup is the devpts option that gives new terminals to the tty
// group, 5, of the pod.
func ptsGroup(s *AppSpec) string {
	if s.Users == nil {
		return ",gid=5"
	}
	return ",gid=" + strconv.FormatUint(uint64(s.Users.HostGID(5)), 10)
}

// makeDevice makes the character device node name in the folder dev
// (makeNode), from the caller's /dev where it may not use mknod.
func makeDevice(dev, name string, major, minor uint32) error {
	return makeNode(filepath.Join(dev, name), unix.S_IFCHR, 0o666, unix.Mkdev(major, minor), filepath.Join("/dev", name))
}

// makeNode makes the device node path, of type typ (S_IFCHR or S_IFBLK),
// permissions perm and number rdev, with mknod where the caller may make
// nodes. Where it may not (it has joined the app's device cgroup, which
// refuses mknod, as the systemd flavor's exec helper has), the node is a
// bind of src, which must be the same device, read-only so that a chmod
// or chown in the app cannot reach the node it came from (a read-only
// mount still lets a device be written).
func makeNode(path string, typ, perm uint32, rdev uint64, src string) error {
	err := unix.Mknod(path, typ|perm, int(rdev))
	if err != unix.EPERM {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return fmt.Errorf("mknod refused, and no node to bind: %w", err)
	}
	if st.Mode&unix.S_IFMT != typ || st.Rdev != rdev {
		return fmt.Errorf("mknod refused, and %s is not device %d:%d", src, unix.Major(rdev), unix.Minor(rdev))
	}
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, perm)
	if err != nil {
		return err
	}
	unix.Close(fd)
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s: %w", src, err)
	}
	if err := unix.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("binding %s read-only: %w", src, err)
	}
	return nil
}

// mountCgroups shows the app its own cgroups, read-only, below
// /sys/fs/cgroup, as its cgroup namespace names them: each hierarchy's
// root is the app's folder in it.
func mountCgroups(root string, views []cgroup.View) error {
	if len(views) == 0 {
		return nil
	}
	dir := filepath.Join(root, "sys/fs/cgroup")
	bind := func(src, dst string) error {
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mounting its cgroup %s: %w", src, err)
		}
		return nil
	}
	if len(views) == 1 && views[0].Name == "" {
		// The unified hierarchy alone, mounted on /sys/fs/cgroup itself.
		if err := bind(views[0].Source, dir); err != nil {
			return err
		}
		return sealTree(dir, false)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("mounting /sys/fs/cgroup: %w", err)
	}
	for _, v := range views {
		dst := filepath.Join(dir, v.Name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("mounting its cgroups: %w", err)
		}
		if err := bind(v.Source, dst); err != nil {
			return err
		}
		for _, l := range v.Links {
			if err := os.Symlink(v.Name, filepath.Join(dir, l)); err != nil && !os.IsExist(err) {
				return fmt.Errorf("mounting its cgroups: %w", err)
			}
		}
	}
	// The tmpfs and every hierarchy on it in one call, where a remount
	// each took a dozen on a host of v1 hierarchies: the longest step of
	// an app's root after its pivot.
	return sealTree(dir, true)
}

// sealTree makes the mount on dir read-only, nosuid, nodev and noexec,
// with every mount below it if recursive: in one call where the kernel has
// mount_setattr (5.12), which only adds flags, so those a user namespace
// locks on a mount stay; else one remount each.
func sealTree(dir string, recursive bool) error {
	const seal = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	at := unix.AT_SYMLINK_NOFOLLOW
	if recursive {
		at |= unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(unix.AT_FDCWD, dir, uint(at), &unix.MountAttr{Attr_set: seal})
	if err != unix.ENOSYS {
		if err != nil {
			return fmt.Errorf("making %s read-only: %w", dir, err)
		}
		return nil
	}
	if recursive {
		return remountTree(dir, sealFlags)
	}
	return remountAdding(dir, sealFlags)
}

// sealFlags are sealTree's flags as remounts give them.
const sealFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// maskPaths covers those of paths (maskedPaths) that exist in the app's
// root.
func maskPaths(root string, paths []string) error {
	var empty string
	for _, p := range paths {
		dst := filepath.Join(root, p)
		fi, err := os.Lstat(dst)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("masking %s: %w", p, err)
		}
		switch {
		case fi.IsDir() && empty == "":
			err = unix.Mount("tmpfs", dst, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
			empty = dst
		case fi.IsDir():
			// The first folder's empty tmpfs, read-only in its superblock:
			// a bind costs less than a file system of its own.
			err = unix.Mount(empty, dst, "", unix.MS_BIND, "")
		default:
			err = unix.Mount(filepath.Join(root, "dev/null"), dst, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	return nil
}

// pivotRoot makes root the calling thread's root and lets go of the old
// one, so that no mount of the host is left in the app's namespace.
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("entering root: %w", err)
	}
	// With both arguments ".", the old root ends up stacked on the new one,
	// from where it is detached: no folder for it is needed in the image.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering root: %w", err)
	}
	return nil
}
