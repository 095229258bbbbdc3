package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// binaryResident is what process pid has of its own executable's
// read-only mappings (code and read-only data): their size and the part
// of it resident in the process, in kB.
func binaryResident(t *testing.T, pid int) (size, rss int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/exe", pid), &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	ours := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		switch {
		case len(f) >= 5 && bytes.IndexByte(f[0], '-') > 0:
			// A mapping's line: range, perms, offset, device, inode.
			ours = string(f[4]) == strconv.FormatUint(st.Ino, 10) && f[1][1] == '-' && f[1][3] == 'p'
		case ours && len(f) == 3 && string(f[0]) == "Size:":
			size += atoi(t, string(f[1]))
		case ours && len(f) == 3 && string(f[0]) == "Rss:":
			rss += atoi(t, string(f[1]))
		}
	}
	if size == 0 {
		t.Fatalf("process %d: no read-only mapping of its executable in its smaps", pid)
	}
	return size, rss
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitSettled waits until process pid keeps under a quarter of its
// executable's read-only pages resident. A podctl process that has run a
// pod's start maps well over a third of them; one that has settled, about
// an eighth.
func waitSettled(t *testing.T, what string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		size, rss := binaryResident(t, pid)
		if rss*4 < size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still has %d of its binary's %d kB of code and read-only data resident after 30 s: it did not settle", what, pid, rss, size)
		}
	}
}

// A pod's stage1 and its init shed what they used to start once its apps
// run: beside a sleeping app, they keep resident little of the binary.
func TestPodProcessesSettle(t *testing.T) {
	t.Run("native", func(t *testing.T) {
		e := nativeEnv(t)
		cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
		defer cmd.Wait()
		defer e.podctl("stop", uuid)
		waitSettled(t, "the native pod's stage1", cmd.Process.Pid)
		waitSettled(t, "the native pod's init", childOf(t, cmd.Process.Pid))
	})
	t.Run("fly", func(t *testing.T) {
		e := flyEnv(t)
		cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
		defer cmd.Wait()
		defer e.podctl("stop", uuid)
		waitSettled(t, "the fly pod's stage1", cmd.Process.Pid)
	})
}
