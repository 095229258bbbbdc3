package store

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// makeRootfs lays out a small root filesystem in a new folder.
func makeRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mtime := time.Date(2022, 2, 3, 4, 5, 6, 0, time.UTC)
	files := []struct {
		rel  string
		body string
		mode os.FileMode
	}{
		{"bin/app", "#!/bin/sh\necho hi\n", 0o755},
		{"etc/hostname", "box\n", 0o644},
		// A top-level file named like the ACI manifest must survive.
		{"manifest", "not the image manifest", 0o600},
	}
	for _, f := range files {
		p := filepath.Join(root, f.rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(root, "bin/app"), 0o4755|os.ModeSetuid))
	must(os.Chown(filepath.Join(root, "etc/hostname"), 1000, 1001))
	must(os.Symlink("/etc/hostname", filepath.Join(root, "etc/link")))
	must(os.Link(filepath.Join(root, "bin/app"), filepath.Join(root, "bin/app2")))
	must(os.Chtimes(filepath.Join(root, "etc/hostname"), mtime, mtime))
	return root
}

// checkRootfs checks that a rendered tree holds what makeRootfs made.
func checkRootfs(t *testing.T, tree string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(tree, "bin/app")); err != nil || string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("bin/app = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(tree, "manifest")); err != nil || string(b) != "not the image manifest" {
		t.Errorf("manifest file of the rootfs = %q, %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(tree, "bin/app"))
	if err != nil || fi.Mode() != os.ModeSetuid|0o755 {
		t.Errorf("bin/app mode = %v, %v; want setuid 0755", fi.Mode(), err)
	}
	fi2, err := os.Stat(filepath.Join(tree, "bin/app2"))
	if err != nil || !os.SameFile(fi, fi2) {
		t.Errorf("bin/app2 is not a hard link of bin/app (%v)", err)
	}
	fi, err = os.Stat(filepath.Join(tree, "etc/hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("etc/hostname owner %d:%d, want 1000:1001", st.Uid, st.Gid)
	}
	if want := time.Date(2022, 2, 3, 4, 5, 6, 0, time.UTC); !fi.ModTime().Equal(want) {
		t.Errorf("etc/hostname mtime %v, want %v", fi.ModTime(), want)
	}
	if target, err := os.Readlink(filepath.Join(tree, "etc/link")); err != nil || target != "/etc/hostname" {
		t.Errorf("etc/link -> %q, %v", target, err)
	}
}

func TestImportRootfsDir(t *testing.T) {
	s := openStore(t)
	root := makeRootfs(t)
	img, err := s.ImportRootfs(root, "example.com/imported", []string{"/bin/app", "arg"}, map[string]string{"version": "0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "example.com/imported" || img.Labels["version"] != "0.1" || img.Labels["os"] != "linux" {
		t.Errorf("image = %+v", img)
	}
	im, _, err := s.Manifest(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if im.App == nil || !reflect.DeepEqual([]string(im.App.Exec), []string{"/bin/app", "arg"}) || im.App.User != "0" {
		t.Errorf("manifest app = %+v", im.App)
	}
	if runtime.GOARCH == "amd64" {
		if arch, _ := im.GetLabel("arch"); arch != "amd64" {
			t.Errorf("arch label = %q", arch)
		}
	}
	tree, err := s.Tree(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkRootfs(t, tree)

	// The same folder again is the same image.
	again, err := s.ImportRootfs(root, "example.com/imported", []string{"/bin/app", "arg"}, map[string]string{"version": "0.1"})
	if err != nil || again.ID != img.ID {
		t.Errorf("second import = %s, %v; want %s", again.ID, err, img.ID)
	}
}

func TestImportRootfsTarball(t *testing.T) {
	s := openStore(t)
	data := buildTar(t,
		ent{name: "./", typ: tar.TypeDir, mode: 0o755},
		ent{name: "./bin/", typ: tar.TypeDir},
		ent{name: "./bin/app", body: "#!/bin/sh\necho hi\n", mode: 0o4755},
		ent{name: "./bin/app2", typ: tar.TypeLink, link: "./bin/app"},
		ent{name: "manifest", body: "not the image manifest", mode: 0o600},
		ent{name: "/etc/hostname", body: "box\n", uid: 1000, gid: 1001, mtime: time.Date(2022, 2, 3, 4, 5, 6, 0, time.UTC)},
		ent{name: "etc/link", typ: tar.TypeSymlink, link: "/etc/hostname"},
	)
	for _, format := range []string{"tar", "xz"} {
		p := filepath.Join(t.TempDir(), "rootfs.tar")
		if err := os.WriteFile(p, compress(t, format, data), 0o600); err != nil {
			t.Fatal(err)
		}
		img, err := s.ImportRootfs(p, "example.com/tarball", nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		im, _, err := s.Manifest(img.ID)
		if err != nil {
			t.Fatal(err)
		}
		if im.App != nil {
			t.Errorf("manifest has an app without exec: %+v", im.App)
		}
		tree, err := s.Tree(img.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRootfs(t, tree)
	}
	if imgs, _ := s.List(); len(imgs) != 1 {
		t.Errorf("the same tarball, compressed or not, gave %d images; want 1", len(imgs))
	}
}

func TestImportRootfsRefuses(t *testing.T) {
	s := openStore(t)
	outside := t.TempDir()
	hostile := filepath.Join(t.TempDir(), "hostile.tar")
	data := buildTar(t,
		ent{name: "etc", typ: tar.TypeSymlink, link: outside},
		ent{name: "etc/passwd", body: "pwned"},
	)
	if err := os.WriteFile(hostile, compress(t, "gzip", data), 0o600); err != nil {
		t.Fatal(err)
	}
	dotdot := filepath.Join(t.TempDir(), "dotdot.tar")
	if err := os.WriteFile(dotdot, buildTar(t, ent{name: "../../pwned", body: "x"}), 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.tar.gz")
	gz := compress(t, "gzip", buildTar(t, ent{name: "a", body: "a"}))
	if err := os.WriteFile(truncated, gz[:len(gz)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{hostile, dotdot, truncated} {
		_, err := s.ImportRootfs(src, "example.com/hostile", nil, nil)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error = %v, want ErrInvalid", filepath.Base(src), err)
		}
		assertEmpty(t, s)
	}
	if names := dirNames(t, outside); len(names) != 0 {
		t.Errorf("%s now holds %v", outside, names)
	}

	root := makeRootfs(t)
	for _, name := range []string{"", "Upper/Case", "spaces in name"} {
		if _, err := s.ImportRootfs(root, name, nil, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: error = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.ImportRootfs(root, "example.com/x", nil, map[string]string{"arch": "pdp11"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad arch label: error = %v, want ErrInvalid", err)
	}
	if _, err := s.ImportRootfs(filepath.Join(root, "missing"), "example.com/x", nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing source: error = %v, want os.ErrNotExist", err)
	}
	assertEmpty(t, s)
}
