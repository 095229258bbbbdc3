package kit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inMountNamespace runs f on a thread of its own in a private mount
// namespace of its own, so that nothing it mounts reaches the host. The
// thread ends with it.
func inMountNamespace(t *testing.T, f func() error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts and must run as root")
	}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			ch <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			ch <- err
			return
		}
		ch <- f()
	}()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

// volumeSource makes a folder with a file, and a tmpfs mounted below it
// (nosuid, nodev) holding another: a host volume whose source has a mount
// below it.
func volumeSource(src string) error {
	if err := os.WriteFile(filepath.Join(src, "top"), []byte("host"), 0o644); err != nil {
		return err
	}
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(sub, "file"), []byte("host"), 0o644)
}

// checkWrite tries to write path and reports whether the error is want
// (nil for a write that must succeed).
func checkWrite(path string, want error) error {
	err := os.WriteFile(path, []byte("app"), 0o644)
	if !errors.Is(err, want) && !(want == nil && err == nil) {
		return fmt.Errorf("writing %s: %v, want %v", path, err, want)
	}
	return nil
}

func TestMountVolumesReadOnlyAllTheWayDown(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	inMountNamespace(t, func() error {
		if err := volumeSource(src); err != nil {
			return err
		}
		s := &AppSpec{Rootfs: root, Mounts: []MountSpec{
			{Source: src, Target: "/ro", ReadOnly: true, Recursive: true},
			{Source: src, Target: "/rw", Recursive: true},
			{Source: src, Target: "/flat", ReadOnly: true},
		}}
		if err := MountVolumes(s); err != nil {
			return err
		}
		for _, c := range []struct {
			path string
			want error
		}{
			{"ro/top", unix.EROFS}, {"ro/sub/file", unix.EROFS}, {"ro/sub/new", unix.EROFS},
			{"rw/sub/file", nil}, {"rw/top", nil},
			{"flat/top", unix.EROFS},
		} {
			if err := checkWrite(filepath.Join(root, c.path), c.want); err != nil {
				return err
			}
		}
		// recursive=false: the folder the tmpfs is mounted on, empty.
		if _, err := os.Stat(filepath.Join(root, "flat/sub/file")); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("a volume with recursive=false shows the mount below its source: %v", err)
		}
		if _, err := os.Stat(filepath.Join(root, "ro/sub/file")); err != nil {
			return fmt.Errorf("a recursive volume hides the mount below its source: %v", err)
		}
		// The read-only bind kept the submount's own flags.
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(root, "ro/sub"), &st); err != nil {
			return err
		}
		if want := int64(unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV); st.Flags&want != want {
			return fmt.Errorf("submount flags %#x, want %#x set", st.Flags, want)
		}
		return nil
	})
}

// Without mount_setattr (kernels before 5.12): each mount of the tree is
// remounted read-only, keeping its flags.
func TestRemountTreeReadOnly(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	inMountNamespace(t, func() error {
		if err := volumeSource(src); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := remountTreeReadOnly(dst); err != nil {
			return err
		}
		if err := checkWrite(filepath.Join(dst, "top"), unix.EROFS); err != nil {
			return err
		}
		if err := checkWrite(filepath.Join(dst, "sub/file"), unix.EROFS); err != nil {
			return err
		}
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(dst, "sub"), &st); err != nil {
			return err
		}
		if want := int64(unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV); st.Flags&want != want {
			return fmt.Errorf("submount flags %#x, want %#x set", st.Flags, want)
		}
		// The source itself is untouched.
		return checkWrite(filepath.Join(src, "sub/file"), nil)
	})
}

// TestMountOverlayVolatileAgain mounts an app's overlay, volatile, then
// mounts it again as a restart does: the mark the first mount leaves is
// cleared, and what the first wrote is there. A link in its place is
// refused, never followed.
func TestMountOverlayVolatileAgain(t *testing.T) {
	dir := t.TempDir()
	s := &AppSpec{Rootfs: filepath.Join(dir, "rootfs"), Lower: filepath.Join(dir, "lower"), Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	for _, d := range []string{s.Rootfs, s.Lower, s.Upper, s.Work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	inMountNamespace(t, func() error {
		for i := 0; i < 2; i++ {
			if err := MountOverlay(s); err != nil {
				return fmt.Errorf("mount %d: %w", i+1, err)
			}
			var st unix.Statfs_t
			if err := unix.Statfs(s.Rootfs, &st); err != nil {
				return err
			}
			if st.Type != unix.OVERLAYFS_SUPER_MAGIC {
				return fmt.Errorf("mount %d: %s is no overlay", i+1, s.Rootfs)
			}
			if i == 0 {
				if err := os.WriteFile(filepath.Join(s.Rootfs, "kept"), []byte("x"), 0o644); err != nil {
					return err
				}
			} else if _, err := os.Stat(filepath.Join(s.Rootfs, "kept")); err != nil {
				return fmt.Errorf("mount 2 lost the first one's file: %w", err)
			}
			mi, err := os.ReadFile("/proc/thread-self/mountinfo")
			if err != nil {
				return err
			}
			if !strings.Contains(string(mi), "volatile") {
				return fmt.Errorf("mount %d is not volatile:\n%s", i+1, mi)
			}
			if err := unix.Unmount(s.Rootfs, 0); err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(s.Work, "work", "incompat", "volatile", "dirty")); err != nil {
				return fmt.Errorf("after mount %d, no volatile mark: %w", i+1, err)
			}
		}
		return nil
	})
	// A link where the mark's folder is: clearVolatile refuses it, and
	// what it leads to is untouched.
	target := t.TempDir()
	if err := os.WriteFile(filepath.Join(target, "dirty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	incompat := filepath.Join(s.Work, "work", "incompat")
	if err := os.RemoveAll(filepath.Join(incompat, "volatile")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(incompat, "volatile")); err != nil {
		t.Fatal(err)
	}
	if err := clearVolatile(s.Work); err == nil {
		t.Fatal("clearVolatile followed a link")
	}
	if _, err := os.Stat(filepath.Join(target, "dirty")); err != nil {
		t.Fatalf("clearVolatile removed a file through a link: %v", err)
	}
}
