package stage1

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// MountOverlay mounts the app's overlay root: the shared image tree below,
// the pod's own upper layer above. Call it in the app's mount namespace.
func MountOverlay(s *AppSpec) error {
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", escapeOverlay(s.Lower), escapeOverlay(s.Upper), escapeOverlay(s.Work))
	if err := unix.Mount("overlay", s.Rootfs, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting overlay root: %w", err)
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

// MountVolumes binds the app's volumes into its root, read-only where the
// volume says so. Mount points are made inside the root without following
// links, so a volume always lands inside it. Call it in the app's mount
// namespace, after the root is in place.
func MountVolumes(s *AppSpec) error {
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
		if err := unix.Mount(m.Source, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mounting volume %s on %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("making volume %s read-only: %w", m.Target, err)
			}
		}
	}
	return nil
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
	if err := unix.Chroot(s.Rootfs); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return nil
}
