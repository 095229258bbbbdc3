package kit

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mountSys gives the app's root a read-only /sys. A new sysfs shows the
// network devices of the mounting process's network namespace, and the
// kernel lets only root of the user namespace that owns that namespace
// mount one: root of an ordinary user's namespace (rootless) may not for a
// pod in the host's network. That pod gets the host's /sys bound instead,
// read-only all the way down, which shows it nothing its user cannot read
// on the host.
func mountSys(root string) error {
	const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	err := mountIn(root, "sys", "sysfs", "sysfs", flags, "")
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	dst := filepath.Join(root, "sys")
	if err := unix.Mount("/sys", dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the host's /sys: %w", err)
	}
	// Setting flags only: those the host's mounts lock stay as they are.
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(unix.AT_FDCWD, dst, unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW, attr); err != nil {
		return fmt.Errorf("making the host's /sys read-only: %w", err)
	}
	return nil
}
