package store

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func linkCount(fi os.FileInfo) uint64 {
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

// The extractor must refuse hostile entries on its own, with the kernel's
// help, even when the validator is bypassed: feed it the hostile archives
// directly, with openat2 and with the O_NOFOLLOW walk of older kernels.
func TestExtractorRefusesWithoutValidator(t *testing.T) {
	requireRoot(t)
	for _, mode := range []struct {
		name     string
		walkOnly bool
	}{{"openat2", false}, {"walk", true}} {
		t.Run(mode.name, func(t *testing.T) {
			outside := t.TempDir()
			if err := os.WriteFile(filepath.Join(outside, "target"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			for name, c := range hostileCases(t, outside) {
				switch name {
				case "outside rootfs", "hardlink to later file", "rootfs is a symlink":
					// Not an escape: the validator's layout rules.
					continue
				}
				t.Run(name, func(t *testing.T) {
					dir := t.TempDir()
					data := buildACI(t, manifestJSON("example.com/hostile"), c.entries...)
					err := extractACI(bytes.NewReader(data), dir, Limits{}, mode.walkOnly)
					if !errors.Is(err, ErrInvalid) {
						t.Fatalf("extract error = %v, want one wrapping ErrInvalid", err)
					}
					if !strings.Contains(err.Error(), `"`+c.entry+`"`) {
						t.Errorf("error %q does not name the entry %q", err, c.entry)
					}
					assertUntouched(t, outside)
				})
			}
		})
	}
}

// TestExtractAttributes renders a tree and checks every kind of entry and
// attribute it must keep.
func TestExtractAttributes(t *testing.T) {
	requireRoot(t)
	for _, walkOnly := range []bool{false, true} {
		dir := t.TempDir()
		dirTime := time.Date(2019, 1, 2, 3, 4, 5, 0, time.UTC)
		fileTime := time.Date(2020, 6, 7, 8, 9, 10, 0, time.UTC)
		data := buildACI(t, manifestJSON("example.com/attrs"),
			ent{name: "rootfs/bin/", typ: tar.TypeDir, mode: 0o750, uid: 11, gid: 12, mtime: dirTime},
			ent{name: "rootfs/bin/suid", body: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0, mtime: fileTime},
			ent{name: "rootfs/bin/owned", body: "x", mode: 0o2640, uid: 1234, gid: 5678, mtime: fileTime},
			ent{name: "rootfs/bin/hard", typ: tar.TypeLink, link: "rootfs/bin/owned"},
			ent{name: "rootfs/bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox", uid: 7, gid: 8, mtime: fileTime},
			ent{name: "rootfs/tmp/", typ: tar.TypeDir, mode: 0o1777},
			ent{name: "rootfs/run/fifo", typ: tar.TypeFifo, mode: 0o620, uid: 3, gid: 4},
			ent{name: "rootfs/dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
			ent{name: "rootfs/deep/er/file", body: "implied parents"},
			ent{name: "rootfs/xattr", body: "x", pax: map[string]string{"SCHILY.xattr.user.podctl": "yes"}},
		)
		if err := extractACI(bytes.NewReader(data), dir, Limits{}, walkOnly); err != nil {
			t.Fatalf("walkOnly=%v: %v", walkOnly, err)
		}
		root := filepath.Join(dir, "rootfs")
		check := func(rel string, mode os.FileMode, uid, gid int, mtime time.Time) {
			t.Helper()
			fi, err := os.Lstat(filepath.Join(root, rel))
			if err != nil {
				t.Errorf("walkOnly=%v: %v", walkOnly, err)
				return
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode() != mode {
				t.Errorf("walkOnly=%v: %s mode %v, want %v", walkOnly, rel, fi.Mode(), mode)
			}
			if int(st.Uid) != uid || int(st.Gid) != gid {
				t.Errorf("walkOnly=%v: %s owner %d:%d, want %d:%d", walkOnly, rel, st.Uid, st.Gid, uid, gid)
			}
			if !mtime.IsZero() && !fi.ModTime().Equal(mtime) {
				t.Errorf("walkOnly=%v: %s mtime %v, want %v", walkOnly, rel, fi.ModTime(), mtime)
			}
		}
		check("bin", os.ModeDir|0o750, 11, 12, dirTime)
		check("bin/suid", os.ModeSetuid|0o755, 0, 0, fileTime)
		check("bin/owned", os.ModeSetgid|0o640, 1234, 5678, fileTime)
		check("bin/sh", os.ModeSymlink|0o777, 7, 8, fileTime)
		check("tmp", os.ModeDir|os.ModeSticky|0o777, 0, 0, testTime)
		check("run/fifo", os.ModeNamedPipe|0o620, 3, 4, testTime)
		check("deep/er", os.ModeDir|0o755, 0, 0, time.Time{})
		check("", os.ModeDir|0o755, 0, 0, testTime)

		if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "/bin/busybox" {
			t.Errorf("symlink target = %q, %v", target, err)
		}
		a, err1 := os.Stat(filepath.Join(root, "bin/owned"))
		b, err2 := os.Stat(filepath.Join(root, "bin/hard"))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("hard link not linked: %v %v", err1, err2)
		}
		if _, err := os.Lstat(filepath.Join(root, "dev/null")); !os.IsNotExist(err) {
			t.Errorf("device node rendered (err %v); want it skipped", err)
		}
		if got, err := os.ReadFile(filepath.Join(root, "deep/er/file")); err != nil || string(got) != "implied parents" {
			t.Errorf("deep/er/file = %q, %v", got, err)
		}
		buf := make([]byte, 16)
		n, err := unix.Lgetxattr(filepath.Join(root, "xattr"), "user.podctl", buf)
		switch {
		case errors.Is(err, unix.ENOTSUP):
			t.Logf("this filesystem has no user xattrs: not checked")
		case err != nil || string(buf[:n]) != "yes":
			t.Errorf("xattr user.podctl = %q, %v; want yes", buf[:n], err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "manifest")); err != nil || string(got) != manifestJSON("example.com/attrs") {
			t.Errorf("tree manifest = %q, %v", got, err)
		}
	}
}
