package kit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/lifecycle"
)

// sealed is what mountCgroups and sealTree leave on every mount.
const sealed = int64(unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC)

// mountTmpfs mounts a small tmpfs on dir, with no flag of its own.
func mountTmpfs(dir string) error {
	return unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k")
}

// checkSealed checks that each of paths is the top of a mount with every
// flag of sealed, and refuses a new file.
func checkSealed(paths ...string) error {
	for _, p := range paths {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err != nil {
			return err
		}
		if st.Flags&sealed != sealed {
			return fmt.Errorf("%s: mount flags %#x, want %#x set", p, st.Flags, sealed)
		}
		if err := checkWrite(filepath.Join(p, "new"), unix.EROFS); err != nil {
			return err
		}
	}
	return nil
}

// TestMountCgroupsSealed shows an app two v1-style hierarchies, one with
// a second name, and checks that the tmpfs on /sys/fs/cgroup and each
// hierarchy on it come out read-only, nosuid, nodev and noexec, as the
// single mount_setattr leaves them, with the host's folders writable.
func TestMountCgroupsSealed(t *testing.T) {
	host, root := t.TempDir(), t.TempDir()
	inMountNamespace(t, func() error {
		var views []cgroup.View
		for _, name := range []string{"memory", "cpu,cpuacct"} {
			src := filepath.Join(host, name)
			if err := os.Mkdir(src, 0o755); err != nil {
				return err
			}
			if err := mountTmpfs(src); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(src, "tasks"), nil, 0o644); err != nil {
				return err
			}
			views = append(views, cgroup.View{Source: src, Name: name})
		}
		views[1].Links = []string{"cpu", "cpuacct"}
		if err := os.MkdirAll(filepath.Join(root, "sys/fs/cgroup"), 0o755); err != nil {
			return err
		}
		if err := mountCgroups(root, views); err != nil {
			return err
		}
		dir := filepath.Join(root, "sys/fs/cgroup")
		points, err := lifecycle.MountPointsUnder(dir)
		if err != nil {
			return err
		}
		if len(points) != 3 {
			return fmt.Errorf("mounts under /sys/fs/cgroup: %v, want the tmpfs and 2 hierarchies", points)
		}
		if err := checkSealed(dir, filepath.Join(dir, "memory"), filepath.Join(dir, "cpu,cpuacct")); err != nil {
			return err
		}
		if err := checkWrite(filepath.Join(dir, "cpu/tasks"), unix.EROFS); err != nil {
			return err
		}
		return checkWrite(filepath.Join(host, "memory/tasks"), nil)
	})
}

// TestMountCgroupsUnifiedSealed binds a unified hierarchy alone on
// /sys/fs/cgroup itself.
func TestMountCgroupsUnifiedSealed(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	inMountNamespace(t, func() error {
		if err := mountTmpfs(src); err != nil {
			return err
		}
		dir := filepath.Join(root, "sys/fs/cgroup")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := mountCgroups(root, []cgroup.View{{Source: src}}); err != nil {
			return err
		}
		if err := checkSealed(dir); err != nil {
			return err
		}
		return checkWrite(filepath.Join(src, "new"), nil)
	})
}

// TestMaskPathsShareOneTmpfs masks two folders and a file: both folders
// show the same empty, read-only tmpfs, and the file /dev/null.
func TestMaskPathsShareOneTmpfs(t *testing.T) {
	root := t.TempDir()
	inMountNamespace(t, func() error {
		for _, d := range []string{"proc/acpi", "sys/firmware", "dev"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return err
			}
		}
		for _, f := range []string{"proc/acpi/secret", "sys/firmware/secret", "proc/kcore"} {
			if err := os.WriteFile(filepath.Join(root, f), []byte("host"), 0o644); err != nil {
				return err
			}
		}
		// The file's mask is the root's dev/null: here a plain file.
		if err := os.WriteFile(filepath.Join(root, "dev/null"), nil, 0o666); err != nil {
			return err
		}
		if err := maskPaths(root, maskedPaths); err != nil {
			return err
		}
		var first unix.Stat_t
		for i, d := range []string{"proc/acpi", "sys/firmware"} {
			p := filepath.Join(root, d)
			ents, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			if len(ents) != 0 {
				return fmt.Errorf("%s shows %d entries, want none", d, len(ents))
			}
			var st unix.Statfs_t
			if err := unix.Statfs(p, &st); err != nil {
				return err
			}
			if st.Type != unix.TMPFS_MAGIC || st.Flags&unix.ST_RDONLY == 0 {
				return fmt.Errorf("%s: file system %#x, flags %#x: want a read-only tmpfs", d, st.Type, st.Flags)
			}
			var s unix.Stat_t
			if err := unix.Stat(p, &s); err != nil {
				return err
			}
			if i == 0 {
				first = s
			} else if s.Dev != first.Dev {
				return fmt.Errorf("%s is on device %d, proc/acpi on %d: want one tmpfs", d, s.Dev, first.Dev)
			}
			if err := checkWrite(filepath.Join(p, "new"), unix.EROFS); err != nil {
				return err
			}
		}
		b, err := os.ReadFile(filepath.Join(root, "proc/kcore"))
		if err != nil {
			return err
		}
		if len(b) != 0 {
			return fmt.Errorf("proc/kcore reads %q through its mask", b)
		}
		return nil
	})
}

// TestSealTreeByRemounts seals a tmpfs with another below it the way a
// kernel without mount_setattr has sealTree do it: one remount each.
func TestSealTreeByRemounts(t *testing.T) {
	dir := t.TempDir()
	inMountNamespace(t, func() error {
		sub := filepath.Join(dir, "sub")
		if err := mountTmpfs(dir); err != nil {
			return err
		}
		if err := os.Mkdir(sub, 0o755); err != nil {
			return err
		}
		if err := mountTmpfs(sub); err != nil {
			return err
		}
		if err := remountTree(dir, sealFlags); err != nil {
			return err
		}
		return checkSealed(dir, sub)
	})
}
