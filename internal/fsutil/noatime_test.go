package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// atimeOf is the access time of path.
func atimeOf(t *testing.T, path string) time.Time {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return time.Unix(st.Atim.Unix())
}

// A pod's file read by ReadSmallAt and ReadRegularAt keeps its access
// time, which relatime would otherwise update on the first read after a
// write; a reader the kernel refuses O_NOATIME (not the file's owner, no
// CAP_FOWNER) still reads it.
func TestReadsLeaveAccessTime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root, to be refused O_NOATIME as another user on one thread")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Older than the file's change: relatime would update it.
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A control: a plain read of such a file updates its access time
	// here, or the checks below would pass on a noatime mount whatever.
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if atimeOf(t, path).Equal(old) {
		t.Fatalf("%s does not update access times (noatime?): this test needs a file system that does", dir)
	}
	if err := os.Chtimes(path, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	for name, read := range map[string]func(int, string, int) ([]byte, error){"ReadSmallAt": ReadSmallAt, "ReadRegularAt": ReadRegularAt} {
		if b, err := read(dfd, "f", 0); err != nil || string(b) != "data\n" {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
		if at := atimeOf(t, path); !at.Equal(old) {
			t.Errorf("%s changed the access time from %v to %v", name, old, at)
		}
	}
	// The same read by another user, on a thread of its own: O_NOATIME
	// refused, the file read without it.
	done := make(chan error)
	go func() {
		// Never given back: the thread ends with the goroutine.
		runtime.LockOSThread()
		unix.Setfsuid(65534)
		if fsuid, _ := unix.SetfsuidRetUid(-1); fsuid != 65534 {
			done <- fmt.Errorf("the thread's fsuid is %d after setfsuid(65534)", fsuid)
			return
		}
		if _, err := unix.Openat(dfd, "f", unix.O_RDONLY|unix.O_NOATIME|unix.O_CLOEXEC, 0); err != unix.EPERM {
			t.Errorf("O_NOATIME as another user: %v, want EPERM", err)
		}
		b, err := ReadSmallAt(dfd, "f", 0)
		if err == nil && string(b) != "data\n" {
			t.Errorf("read %q as another user", b)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Errorf("as another user: %v", err)
	}
}
