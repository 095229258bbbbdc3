package fsutil

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadSmallAtReadsWhatReadRegularAtReads checks ReadSmallAt against
// ReadRegularAt on files below, at and above its buffer's size, with and
// without a bound, and on what is no file to read.
func TestReadSmallAtReadsWhatReadRegularAtReads(t *testing.T) {
	dir := t.TempDir()
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	for _, size := range []int{0, 1, 700, smallFile - 1, smallFile, smallFile + 1, 3*smallFile + 5} {
		name := "f" + strconv.Itoa(size)
		data := bytes.Repeat([]byte("podctl\n"), size/7+1)[:size]
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, max := range []int{0, size, size - 1, smallFile * 8} {
			if max < 0 {
				continue
			}
			got, err := ReadSmallAt(dirfd, name, max)
			want, werr := ReadRegularAt(dirfd, name, max)
			if !errors.Is(err, werr) && (err == nil) != (werr == nil) {
				t.Fatalf("size %d, max %d: error %v, ReadRegularAt's %v", size, max, err, werr)
			}
			if werr == nil && !bytes.Equal(got, want) {
				t.Fatalf("size %d, max %d: read %d bytes, not the %d ReadRegularAt read", size, max, len(got), len(want))
			}
			if max > 0 && size > max && !errors.Is(err, ErrTooLong) {
				t.Fatalf("size %d, max %d: %v, want ErrTooLong", size, max, err)
			}
		}
	}
	if _, err := ReadSmallAt(dirfd, "missing", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing file: %v, want ErrNotExist", err)
	}
	if err := os.Symlink("f1", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSmallAt(dirfd, "link", 0); err == nil {
		t.Fatal("a symbolic link was followed")
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSmallAt(dirfd, "sub", 0); err == nil {
		t.Fatal("a folder was read as a file")
	}
	// A FIFO with no writer reads as empty at once: it never blocks.
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadSmallAt(dirfd, "fifo", 0); err != nil || len(b) != 0 {
		t.Fatalf("a FIFO: %q, %v; want nothing at once", b, err)
	}
}
