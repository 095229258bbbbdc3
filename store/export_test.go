package store

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportGivesTheSameImage(t *testing.T) {
	s := openStore(t)
	plain := simpleACI(t, "example.com/export", "version", "1")
	img := mustImport(t, s, compress(t, "gzip", plain))
	out := filepath.Join(t.TempDir(), "out.aci")
	if err := s.Export(img.ID, out, false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("export differs from the uncompressed ACI (err %v)", err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o644 {
		t.Errorf("exported file mode %v, want 0644", fi.Mode().Perm())
	}
	// Importing the export into another store gives the same ID.
	s2 := openStore(t)
	if again := mustImport(t, s2, got); again.ID != img.ID {
		t.Fatalf("re-import gave %s, want %s", again.ID, img.ID)
	}

	// An existing file is kept unless overwrite is set.
	os.WriteFile(out, []byte("old"), 0o600)
	if err := s.Export(img.ID, out, false); !errors.Is(err, ErrExists) {
		t.Fatalf("export over a file: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatalf("refused export changed the file: %q", b)
	}
	if err := s.Export(img.ID, out, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, plain) {
		t.Fatal("--overwrite did not replace the file")
	}
	if err := s.Export(img.ID, t.TempDir(), true); !errors.Is(err, ErrExists) {
		t.Fatalf("export over a folder: %v, want ErrExists", err)
	}
	if names := dirNames(t, filepath.Dir(out)); len(names) != 1 {
		t.Fatalf("temporary files left beside the export: %v", names)
	}
	if err := s.Export("sha512-"+strings.Repeat("0", 64), out, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("export of an unknown image: %v", err)
	}
}

func TestExportRefusesADamagedBlob(t *testing.T) {
	s := openStore(t)
	plain := simpleACI(t, "example.com/damaged")
	img := mustImport(t, s, plain)
	rec, err := s.lookup(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), plain...)
	bad[len(bad)-1] ^= 1
	if err := os.WriteFile(s.blobPath(rec.Digest), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = s.Export(img.ID, filepath.Join(dir, "out.aci"), false)
	if err == nil || !strings.Contains(err.Error(), "does not match its digest") {
		t.Fatalf("export of a damaged blob: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("a refused export left %v", names)
	}
}

func TestExtract(t *testing.T) {
	s := openStore(t)
	data := buildACI(t, manifestJSON("example.com/extract"),
		ent{name: "rootfs/etc/", typ: tar.TypeDir},
		ent{name: "rootfs/etc/motd", body: "hi\n", mode: 0o640, uid: 12, gid: 34},
		ent{name: "rootfs/abs", typ: tar.TypeSymlink, link: "/etc"},
	)
	img := mustImport(t, s, data)
	for _, render := range []bool{false, true} {
		do := s.Extract
		if render {
			do = s.Render
		}
		parent := t.TempDir()
		whole := filepath.Join(parent, "whole")
		if err := do(img.ID, whole, false); err != nil {
			t.Fatal(err)
		}
		if m, err := os.ReadFile(filepath.Join(whole, "manifest")); err != nil || !strings.Contains(string(m), "example.com/extract") {
			t.Fatalf("manifest %q (%v)", m, err)
		}
		fi, err := os.Stat(filepath.Join(whole, "rootfs", "etc", "motd"))
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Fatalf("rootfs/etc/motd: %v %v", fi, err)
		}
		if l, err := os.Readlink(filepath.Join(whole, "rootfs", "abs")); err != nil || l != "/etc" {
			t.Fatalf("symlink kept as %q (%v)", l, err)
		}
		// Only the rootfs, into an empty folder.
		rootfs := filepath.Join(parent, "rootfs")
		os.Mkdir(rootfs, 0o700)
		if err := do(img.ID, rootfs, true); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(rootfs, "etc", "motd")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(rootfs, "manifest")); err == nil {
			t.Fatal("--rootfs-only wrote the manifest")
		}
		// A folder that is not empty, or a file, is refused.
		if err := do(img.ID, whole, true); !errors.Is(err, ErrExists) {
			t.Fatalf("into a full folder: %v", err)
		}
		file := filepath.Join(parent, "file")
		os.WriteFile(file, nil, 0o600)
		if err := do(img.ID, file, false); !errors.Is(err, ErrExists) {
			t.Fatalf("onto a file: %v", err)
		}
		if names := dirNames(t, parent); strings.Join(names, " ") != "file rootfs whole" {
			t.Fatalf("left beside the destinations: %v", names)
		}
	}
}

// A blob changed on disk into a hostile archive (a symlink out, then a
// file through it) writes nothing outside the destination.
func TestExtractStaysInside(t *testing.T) {
	s := openStore(t)
	img := mustImport(t, s, simpleACI(t, "example.com/hostile"))
	rec, err := s.lookup(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	hostile := buildACI(t, manifestJSON("example.com/hostile"),
		ent{name: "rootfs/out", typ: tar.TypeSymlink, link: outside},
		ent{name: "rootfs/out/pwned", body: "x"},
	)
	if err := os.WriteFile(s.blobPath(rec.Digest), hostile, 0o600); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	err = s.Extract(img.ID, filepath.Join(parent, "x"), false)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("hostile extract: %v, want ErrInvalid", err)
	}
	if names := dirNames(t, outside); len(names) != 0 {
		t.Fatalf("written outside: %v", names)
	}
	if names := dirNames(t, parent); len(names) != 0 {
		t.Fatalf("a refused extract left %v", names)
	}
}
