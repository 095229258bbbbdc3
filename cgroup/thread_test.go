package cgroup

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A thread that joins an app's v1 folders (JoinThread) is in them, and
// after Leave is back in its process's: the app's memory cgroup running
// out then never counts the process among its candidates.
func TestThreadLeaves(t *testing.T) {
	g := realTestGroup(t)
	home, err := HomeOfProcess()
	if err != nil {
		t.Fatal(err)
	}
	var apps []string
	for _, d := range g.Dirs {
		a := filepath.Join(d, "app")
		if err := os.Mkdir(a, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(a)
		apps = append(apps, a)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	type result struct{ joined, left string }
	ch := make(chan result, 1)
	go func() {
		// Never given back: the thread ends with the goroutine.
		runtime.LockOSThread()
		var r result
		fd, err := JoinThread(apps)
		if err != nil {
			t.Error(err)
			ch <- r
			return
		}
		if fd >= 0 {
			defer os.NewFile(uintptr(fd), "unified").Close()
		}
		b, _ := os.ReadFile("/proc/thread-self/cgroup")
		r.joined = string(b)
		leave, err := home.LeaveLater(apps)
		if err == nil {
			err = leave.Join()
		}
		if err != nil {
			t.Error(err)
		}
		b, _ = os.ReadFile("/proc/thread-self/cgroup")
		r.left = string(b)
		ch <- r
	}()
	r := <-ch
	v1 := 0
	for _, line := range strings.Split(strings.TrimSpace(r.joined), "\n") {
		if !strings.HasPrefix(line, "0::") && strings.HasSuffix(line, "/app") {
			v1++
		}
	}
	if v1 == 0 {
		t.Fatalf("the thread joined no v1 folder of %v: %s", apps, r.joined)
	}
	if r.left != string(self) {
		t.Errorf("the thread left for\n%s\nnot its process's\n%s", r.left, self)
	}
}

// realTestGroup makes a pod group of the test's name on the real host,
// removed when the test ends.
func realTestGroup(t *testing.T) *Group {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and must run as root")
	}
	g, err := NewPodGroup("test-" + t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Remove() })
	return g
}
