package kit

import (
	"fmt"
	"os"
	"path/filepath"
	"podctl/lifecycle"
	"strings"

	"golang.org/x/sys/unix"
)

// MountOverlay mounts the app's overlay root: the shared image tree below,
// the pod's own upper layer above. Call it in the app's mount namespace.
//
// The overlay is volatile: it skips every sync of the upper filesystem.
// A pod's upper layer lives only as long as its run: an exited pod is
// read and removed, never run again, so nothing in it needs to survive a
// power cut (what must is in a volume, which is a bind). Without it, the
// end of the last mount (the app's exit) synced the whole filesystem of
// the data directory, every dirty page of every writer on it, for each
// app of each pod.
func MountOverlay(s *AppSpec) error {
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", escapeOverlay(s.Lower), escapeOverlay(s.Upper), escapeOverlay(s.Work))
	if err := clearVolatile(s.Work); err != nil {
		return err
	}
	err := unix.Mount("overlay", s.Rootfs, "overlay", 0, opts+",volatile")
	if err == unix.EINVAL {
		// A kernel before 5.10 has no volatile overlays.
		err = unix.Mount("overlay", s.Rootfs, "overlay", 0, opts)
	}
	if err != nil {
		return fmt.Errorf("mounting overlay root: %w", err)
	}
	return nil
}

// clearVolatile removes the mark a volatile overlay leaves in its work
// folder (work/incompat/volatile/dirty), with which overlayfs refuses to
// mount it again. Only this pod's stage1 mounts the app's layers, and only in
// this run (after a crash the pod is exited, and never mounted again):
// the mark is from an earlier start of the same app (a restart), whose
// upper layer is intact. Each step refuses a link: a systemd pod's
// systemd can write the app's folder.
func clearVolatile(work string) error {
	fd, err := unix.Open(work, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the overlay's work folder: %w", err)
	}
	var parent int
	defer func() { unix.Close(fd) }()
	for _, c := range []string{"work", "incompat", "volatile"} {
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			return nil
		}
		if err != nil {
			return fmt.Errorf("opening the overlay's work folder: %s: %w", c, err)
		}
		if c == "volatile" {
			parent = fd
			defer unix.Close(parent)
		} else {
			unix.Close(fd)
		}
		fd = next
	}
	if err := unix.Unlinkat(fd, "dirty", 0); err != nil && err != unix.ENOENT {
		return fmt.Errorf("clearing the overlay's volatile mark: %w", err)
	}
	if err := unix.Unlinkat(parent, "volatile", unix.AT_REMOVEDIR); err != nil {
		return fmt.Errorf("clearing the overlay's volatile mark: %w", err)
	}
	return nil
}

// escapeOverlay escapes the characters overlayfs options give meaning to.
func escapeOverlay(p string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`).Replace(p)
}

// MkdirInRoot makes sure the folder rel exists under root, creating what
// is missing, without following any symlink on the way: an image cannot
// make a mount point lead out of its root.
func MkdirInRoot(root, rel string) error {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening root %s: %w", root, err)
	}
	for _, c := range strings.Split(filepath.Clean("/" + rel)[1:], "/") {
		if c == "" {
			continue
		}
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			if err := unix.Mkdirat(fd, c, 0o755); err != nil && err != unix.EEXIST {
				unix.Close(fd)
				return fmt.Errorf("creating %s in the app's root: %w", filepath.Join("/", rel), err)
			}
			next, err = unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("%s in the app's root is not a folder: %w", filepath.Join("/", rel), err)
		}
		fd = next
	}
	unix.Close(fd)
	return nil
}

// MountVolumes binds the app's volumes into its root, with the mounts below
// their sources unless a volume says recursive=false, and read-only, all
// the way down, where the volume says so. Mount points are made inside the root without following
// links, so a volume always lands inside it. Call it in the app's mount
// namespace, after the root is in place. The app's fresh tmpfs folders
// (MountTmpfs) go first, so that a volume may land inside one.
func MountVolumes(s *AppSpec) error {
	if err := MountTmpfs(s); err != nil {
		return err
	}
	for _, m := range s.Mounts {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("volume for %s: %w", m.Target, err)
		}
		if fi.IsDir() {
			err = MkdirInRoot(s.Rootfs, m.Target)
		} else {
			err = touchInRoot(s.Rootfs, m.Target)
		}
		if err != nil {
			return err
		}
		dst := filepath.Join(s.Rootfs, m.Target)
		flags := uintptr(unix.MS_BIND)
		if m.Recursive {
			flags |= unix.MS_REC
		}
		if s.mapsVolumes() {
			if err := idmapBind(m.Source, dst, s.Userns, m.Recursive); err != nil {
				return fmt.Errorf("mounting volume %s on %s: %w", m.Source, m.Target, err)
			}
		} else if err := unix.Mount(m.Source, dst, "", flags, ""); err != nil {
			return fmt.Errorf("mounting volume %s on %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			if err := readOnlyTree(dst); err != nil {
				return fmt.Errorf("making volume %s read-only: %w", m.Target, err)
			}
		}
	}
	return nil
}

// readOnlyTree makes the mount on dst, and every mount below it,
// read-only, in one call where the kernel has mount_setattr (5.12), else
// one remount each: a remount of the bind alone would leave the mounts
// below it writable.
func readOnlyTree(dst string) error {
	err := unix.MountSetattr(unix.AT_FDCWD, dst, unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	if err != unix.ENOSYS {
		if err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
		return nil
	}
	return remountTreeReadOnly(dst)
}

// remountTreeReadOnly remounts the mount on dst and each mount below it
// read-only, keeping their other flags: a bind remount clears the flags
// it is not given, nosuid and nodev among them.
func remountTreeReadOnly(dst string) error {
	return remountTree(dst, unix.MS_RDONLY)
}

// remountTree remounts the mount on dir and each mount below it with the
// flags add, keeping their others (remountAdding).
func remountTree(dir string, add uintptr) error {
	points, err := lifecycle.MountPointsUnder(dir)
	if err != nil {
		return err
	}
	for _, p := range points {
		if err := remountAdding(p, add); err != nil {
			return err
		}
	}
	return nil
}

// statfsFlags pairs the per-mount flags statfs reports with the mount
// flags that keep them.
var statfsFlags = []struct {
	st int64
	ms uintptr
}{
	{unix.ST_NOSUID, unix.MS_NOSUID},
	{unix.ST_NODEV, unix.MS_NODEV},
	{unix.ST_NOEXEC, unix.MS_NOEXEC},
	{unix.ST_NOATIME, unix.MS_NOATIME},
	{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
	{unix.ST_RELATIME, unix.MS_RELATIME},
}

// touchInRoot makes sure a file exists at rel under root, to mount a file
// on, without following links.
func touchInRoot(root, rel string) error {
	// Relative to the root: openat2 refuses an absolute path beneath it.
	rel = filepath.Clean("/" + rel)[1:]
	dir, name := filepath.Split(rel)
	if err := MkdirInRoot(root, dir); err != nil {
		return err
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening root %s: %w", root, err)
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, filepath.Join(dir, name), &unix.OpenHow{
		Flags:   unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Mode:    0o644,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return fmt.Errorf("making mount point %s in the app's root: %w", filepath.Join("/", rel), err)
	}
	return unix.Close(fd)
}

// EnterRoot gives the app's root its /proc, and the /sys and /dev of the
// pod, then makes it the process's root. Call it in the app's own mount
// namespace, once the root and its volumes are mounted.
func EnterRoot(s *AppSpec) error {
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
	}{
		{"proc", "proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/sys", "sys", "", unix.MS_BIND | unix.MS_REC},
		{"/dev", "dev", "", unix.MS_BIND | unix.MS_REC},
	}
	for _, m := range mounts {
		if err := MkdirInRoot(s.Rootfs, m.dst); err != nil {
			return err
		}
		if err := unix.Mount(m.src, filepath.Join(s.Rootfs, m.dst), m.fstype, m.flags, ""); err != nil {
			return fmt.Errorf("mounting /%s: %w", m.dst, err)
		}
	}
	if s.ReadOnlyRootfs {
		if err := ReadOnlyRoot(s.Rootfs); err != nil {
			return err
		}
	}
	if err := unix.Chroot(s.Rootfs); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return nil
}
