package systemd

import (
	"os"
	"path/filepath"
	"testing"
)

// writeAt makes its file appear whole, by a rename: a link left at the
// file's name is replaced, never followed, and nothing is left under the
// name it writes first. A link at that name fails the write.
func TestWriteAtWhole(t *testing.T) {
	dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "started")); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := writeAt(d, "started", []byte("record")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "started")); err != nil || string(b) != "record" {
		t.Fatalf("started reads %q, %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "started")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("started is not a file of its own: %v, %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "started.new")); !os.IsNotExist(err) {
		t.Fatalf("started.new left behind: %v", err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "error.new")); err != nil {
		t.Fatal(err)
	}
	if err := writeAt(d, "error", []byte("why")); err == nil {
		t.Fatal("writeAt followed a link at the name it writes first")
	}
	if b, _ := os.ReadFile(outside); string(b) != "host" {
		t.Fatalf("the file outside reads %q: written through a link", b)
	}
}
