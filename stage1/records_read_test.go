package stage1

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readRecord reads a small regular file through a folder's descriptor,
// whole; a missing one wraps fs.ErrNotExist, and a FIFO, a link or a file
// past the bound is refused at once.
func TestReadRecord(t *testing.T) {
	dir := t.TempDir()
	j := func(n string) string { return filepath.Join(dir, n) }
	if err := os.WriteFile(j("ok"), []byte("/sys/fs/cgroup/pids/podctl-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j("big"), []byte(strings.Repeat("a", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j("edge"), []byte(strings.Repeat("b", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(j("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(j("ok"), j("link")); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fd := int(d.Fd())
	if b, err := readRecord(fd, "ok", 4096); err != nil || string(b) != "/sys/fs/cgroup/pids/podctl-x\n" {
		t.Errorf("readRecord of a small file = %q, %v", b, err)
	}
	if b, err := readRecord(fd, "edge", 5000); err != nil || len(b) != 5000 {
		t.Errorf("readRecord of a file at the bound = %d bytes, %v", len(b), err)
	}
	if _, err := readRecord(fd, "missing", 4096); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readRecord of a missing file: %v, want fs.ErrNotExist", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for name, max := range map[string]int64{"big": 4096, "fifo": 4096, "link": 4096} {
			if b, err := readRecord(fd, name, max); err == nil {
				t.Errorf("readRecord of %s = %d bytes, want an error", name, len(b))
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("readRecord of a FIFO still waits after 10s")
	}
}
