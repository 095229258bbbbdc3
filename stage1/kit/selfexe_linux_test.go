package kit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// checkSealedSelf checks that f holds the running binary, is not its file
// (another device and inode), and that no reopening of it through
// /proc/self/fd, as a process of a pod would do with /proc/PID/exe, can
// change it.
func checkSealedSelf(t *testing.T, f *os.File, refused ...unix.Errno) {
	t.Helper()
	want, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the file holds %d bytes, not the %d of the running binary", len(got), len(want))
	}
	var self, st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Dev == self.Dev && st.Ino == self.Ino {
		t.Fatalf("the file is the binary itself (%d:%d)", st.Dev, st.Ino)
	}
	// The CVE-2019-5736 way: a descriptor of the file, reopened for writing.
	path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		// A sealed memfd opens, and refuses every change.
		_, err = w.WriteAt(want[:1], 0)
		if err == nil {
			err = w.Truncate(0)
		}
		w.Close()
	}
	ok := false
	for _, no := range refused {
		ok = ok || errors.Is(err, no)
	}
	if !ok {
		t.Fatalf("writing through %s: %v, want one of %v", path, err, refused)
	}
}

func TestOpenSelf(t *testing.T) {
	f, err := OpenSelf()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkSealedSelf(t, f, unix.EROFS, unix.EPERM)
}

// The overlay, the way on every kernel since 5.2, is the one taken here.
func TestOverlaySelf(t *testing.T) {
	files, err := overlaySelf(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := files[0]
	defer f.Close()
	checkSealedSelf(t, f, unix.EROFS)
}

func TestSealedSelf(t *testing.T) {
	files, err := sealedSelf(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := files[0]
	defer f.Close()
	checkSealedSelf(t, f, unix.EPERM)
}

// OpenBinaries opens a helper beside podctl through the same overlay, or
// as a sealed copy, read-only either way, and gives nil for one that is
// missing or not a file.
func TestOpenBinariesBeside(t *testing.T) {
	dir := t.TempDir()
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	helper := []byte("#!/bin/false\nthe helper\n")
	if err := os.WriteFile(filepath.Join(dir, "podctl"), self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "helper"), helper, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := SelfExe
	SelfExe = filepath.Join(dir, "podctl")
	defer func() { SelfExe = old }()
	names := []string{"helper", "missing", "folder"}
	for _, c := range []struct {
		name string
		open func([]string) ([]*os.File, error)
		want unix.Errno
	}{{"overlay", overlaySelf, unix.EROFS}, {"sealed", sealedSelf, unix.EPERM}} {
		files, err := c.open(names)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		defer closeAll(files)
		if len(files) != 4 || files[0] == nil || files[1] == nil || files[2] != nil || files[3] != nil {
			t.Fatalf("%s: files %v, want podctl and the helper only", c.name, files)
		}
		got, err := io.ReadAll(io.NewSectionReader(files[1], 0, 1<<20))
		if err != nil || !bytes.Equal(got, helper) {
			t.Errorf("%s: the helper reads %q, %v", c.name, got, err)
		}
		w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", files[1].Fd()), os.O_RDWR, 0)
		if err == nil {
			_, err = w.WriteAt([]byte("x"), 0)
			w.Close()
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: writing the helper: %v, want %v", c.name, err, c.want)
		}
	}
}
