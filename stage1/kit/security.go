package kit

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/stage1"
)

// A read-only root (--readonly-rootfs) and the host devices given to a pod
// (--device). The root is remounted read-only last, once every mount in
// it is made, just before the app's thread pivots into it: the mounts in
// it (/proc, /dev, /sys, the volumes, the pod's /etc/hosts) keep their own
// flags, and /tmp and /run are fresh tmpfs mounts (TmpfsSpec) so that
// programs that expect to write there still can. A device is added to the
// app's device policy (cgroup.Limits.ExtraDevices) and made in its /dev
// (makeNode), as the standard nodes are.

// TmpfsSpec is a fresh tmpfs mounted in an app's root.
type TmpfsSpec struct {
	// Target is the absolute path inside the app's root.
	Target string `json:"target"`
	// Mode is the mode of its root folder.
	Mode uint32 `json:"mode"`
}

// scratchTmpfs are the writable folders of a read-only root.
var scratchTmpfs = []TmpfsSpec{{"/tmp", 0o1777}, {"/run", 0o755}}

// readSecurity gives s the read-only root of its RuntimeApp's annotation
// and the devices of the pod manifest's.
func readSecurity(s *AppSpec, m *schema.PodManifest, ra *schema.RuntimeApp) error {
	if v, ok := ra.Annotations.Get(lifecycle.AnnotationReadOnlyRootfs); ok {
		switch v {
		case "true":
			s.ReadOnlyRootfs = true
			s.Tmpfs = append([]TmpfsSpec(nil), scratchTmpfs...)
		case "false":
		default:
			return fmt.Errorf("app %s: %s %q is neither true nor false", s.Name, lifecycle.AnnotationReadOnlyRootfs, v)
		}
	}
	v, ok := m.Annotations.Get(lifecycle.AnnotationDevices)
	if !ok {
		return nil
	}
	devs, err := stage1.ParseDevices(v)
	if err != nil {
		return fmt.Errorf("app %s: %s: %w", s.Name, lifecycle.AnnotationDevices, err)
	}
	s.Devices = devs
	for _, d := range devs {
		s.Limits.ExtraDevices = append(s.Limits.ExtraDevices, cgroup.Device{Type: d.Type[0], Major: int64(d.Major), Minor: int64(d.Minor), Access: d.Access})
	}
	return nil
}

// MountTmpfs mounts the app's fresh tmpfs folders (Tmpfs) in its root,
// before its volumes, which may land inside them.
func MountTmpfs(s *AppSpec) error {
	for _, t := range s.Tmpfs {
		data := fmt.Sprintf("mode=%o", t.Mode) + s.ownerOptions(0)
		if err := mountIn(s.Rootfs, t.Target, "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
			return err
		}
	}
	return nil
}

// makeDevices makes the nodes of the pod's devices in the app's /dev.
func makeDevices(root string, devs []stage1.Device, users *stage1.PrivateUsers) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		dst := filepath.Join(root, d.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("making %s: %w", d.Path, err)
		}
		typ := uint32(unix.S_IFCHR)
		if d.Type == "b" {
			typ = unix.S_IFBLK
		}
		if err := makeNode(dst, typ, d.Mode, unix.Mkdev(d.Major, d.Minor), d.Host); err != nil {
			return fmt.Errorf("making %s: %w", d.Path, err)
		}
		if err := giveNode(dst, users); err != nil {
			return fmt.Errorf("making %s: %w", d.Path, err)
		}
	}
	return nil
}

// giveNode gives a device node made in an app's /dev to the pod's root,
// when the pod has private users: the host's root owns it, and a 0600
// node (/dev/fuse) would be the pod's nobody's otherwise. A node bound
// from the host (makeNode's way without mknod) is the host's own, and
// left as it is: it is not on the /dev tmpfs its folder is on.
func giveNode(path string, users *stage1.PrivateUsers) error {
	if users == nil {
		return nil
	}
	var node, dir unix.Stat_t
	if err := unix.Lstat(path, &node); err != nil {
		return err
	}
	if err := unix.Lstat(filepath.Dir(path), &dir); err != nil {
		return err
	}
	if node.Dev != dir.Dev {
		return nil
	}
	return unix.Lchown(path, int(users.HostUID(0)), int(users.HostGID(0)))
}

// ReadOnlyRoot remounts the app's root mount read-only, keeping its other
// flags; the mounts inside it keep theirs.
func ReadOnlyRoot(root string) error {
	if err := remountReadOnly(root); err != nil {
		return fmt.Errorf("making the app's root read-only: %w", err)
	}
	return nil
}

// remountReadOnly remounts the mount on p, alone, read-only, keeping its
// other flags: a bind remount clears the flags it is not given, nosuid and
// nodev among them.
func remountReadOnly(p string) error {
	return remountAdding(p, unix.MS_RDONLY)
}

// remountAdding remounts the mount on p with the flags add, keeping those
// it has (a bind remount clears the flags it is not given).
func remountAdding(p string, add uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return fmt.Errorf("remounting %s: %w", p, err)
	}
	flags := unix.MS_BIND | unix.MS_REMOUNT | add
	for _, f := range statfsFlags {
		if st.Flags&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", p, "", flags, ""); err != nil {
		return fmt.Errorf("remounting %s read-only: %w", p, err)
	}
	return nil
}
