package stage1

import (
	"fmt"
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
				return fmt.Errorf("creating /%s in the app's root: %w", rel, err)
			}
			next, err = unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("/%s in the app's root is not a folder: %w", rel, err)
		}
		fd = next
	}
	unix.Close(fd)
	return nil
}
