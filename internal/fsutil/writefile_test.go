package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// WriteFile replaces a file whole under a new inode, with exactly the mode
// asked whatever the umask, durable or not, and leaves no temporary file.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	var inodes []uint64
	for i, c := range []struct {
		data    string
		perm    os.FileMode
		durable bool
	}{
		{"one\n", 0o644, false},
		{"", 0o600, true},
		{strings.Repeat("x", 1<<20), 0o640, false},
	} {
		if err := WriteFile(path, []byte(c.data), c.perm, c.durable); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != c.data {
			t.Fatalf("write %d: read %d bytes, %v; want %d", i, len(b), err, len(c.data))
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != c.perm {
			t.Errorf("write %d: mode %v, want %v", i, st.Mode().Perm(), c.perm)
		}
		inodes = append(inodes, st.Sys().(*syscall.Stat_t).Ino)
	}
	if inodes[0] == inodes[1] || inodes[1] == inodes[2] {
		t.Errorf("a rewrite kept the inode: %v", inodes)
	}
	assertOnly(t, dir, "f")
}

// A write that cannot be made leaves nothing behind: a folder where the
// file would go, a folder that is not there.
func TestWriteFileFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "d"), []byte("x"), 0o600, false); err == nil {
		t.Error("replaced a folder with a file")
	}
	assertOnly(t, dir, "d")
	err := WriteFile(filepath.Join(dir, "gone", "f"), []byte("x"), 0o600, true)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a write into a folder not there: %v, want one that is fs.ErrNotExist", err)
	}
}

// assertOnly checks that dir holds the names want and nothing else.
func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}
