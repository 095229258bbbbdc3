package kit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"podctl/stage1"
	"podctl/stage1/appexec"
)

// TestDevTree makes an app's /dev ahead, with a pod's device in a folder
// of its own, and attaches it to a root: the nodes, links and mounts are
// those mountDev makes on the root itself.
func TestDevTree(t *testing.T) {
	root := t.TempDir()
	s := &AppSpec{Spec: appexec.Spec{Name: "a"}, Rootfs: root, Devices: []stage1.Device{{Host: "/dev/net/tun", Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, Mode: 0o600}}}
	inMountNamespace(t, func() error {
		dev, err := MakeDevTree(s)
		if err != nil {
			return err
		}
		if dev == nil {
			return fmt.Errorf("no tree made for a pod without private users")
		}
		defer dev.Close()
		if err := dev.attach(root, s); err != nil {
			return err
		}
		nodes := map[string]struct {
			mode uint32
			rdev uint64
		}{
			"null":    {unix.S_IFCHR | 0o666, unix.Mkdev(1, 3)},
			"urandom": {unix.S_IFCHR | 0o666, unix.Mkdev(1, 9)},
			"tty":     {unix.S_IFCHR | 0o666, unix.Mkdev(5, 0)},
			"net/tun": {unix.S_IFCHR | 0o600, unix.Mkdev(10, 200)},
		}
		for name, want := range nodes {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(root, "dev", name), &st); err != nil {
				return err
			}
			if st.Mode != want.mode || st.Rdev != want.rdev {
				return fmt.Errorf("/dev/%s: mode %o rdev %d:%d, want %o %d:%d", name, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), want.mode, unix.Major(want.rdev), unix.Minor(want.rdev))
			}
		}
		if l, err := os.Readlink(filepath.Join(root, "dev", "fd")); err != nil || l != "/proc/self/fd" {
			return fmt.Errorf("/dev/fd: %q, %v", l, err)
		}
		var fs unix.Statfs_t
		for dir, magic := range map[string]int64{"": unix.TMPFS_MAGIC, "pts": unix.DEVPTS_SUPER_MAGIC, "shm": unix.TMPFS_MAGIC} {
			if err := unix.Statfs(filepath.Join(root, "dev", dir), &fs); err != nil {
				return err
			}
			if fs.Type != magic {
				return fmt.Errorf("/dev/%s is of type %x, want %x", dir, fs.Type, magic)
			}
		}
		if fs.Flags&unix.ST_NOSUID == 0 {
			return fmt.Errorf("/dev/shm is not nosuid")
		}
		return nil
	})
}

// A device outside /dev is refused, and one in a pod with private users
// is made on the root (no tree).
func TestDevTreeRefuses(t *testing.T) {
	inMountNamespace(t, func() error {
		bad := &AppSpec{Devices: []stage1.Device{{Path: "/dev/../etc/x", Type: "c", Major: 1, Minor: 3, Mode: 0o666}}}
		if dev, err := MakeDevTree(bad); err == nil {
			dev.Close()
			return fmt.Errorf("a device at /dev/../etc/x was made")
		}
		users := &AppSpec{Users: &stage1.PrivateUsers{UID: 524288, GID: 524288, Count: 65536}}
		if dev, err := MakeDevTree(users); err != nil || dev != nil {
			dev.Close()
			return fmt.Errorf("private users: tree %v, %v; want none", dev, err)
		}
		return nil
	})
}
