package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A fly pod's stage1 killed with SIGKILL leaves the app's background
// children running on the host (fly has no PID namespace to take them):
// the gc run that marks the pod exited kills them, so that no process of a
// pod that reads exited runs on until its grace period is over.
func TestGCMarkKillsWhatADeadStage1Left(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	// An argument no other process has: the child is found by it.
	mark := strconv.Itoa(40000 + os.Getpid()%10000)
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "sleep "+mark+" & sleep 600")
	child := 0
	for deadline := time.Now().Add(30 * time.Second); child == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the app's background child never ran")
		}
		child = findProcess([]string{"sleep", mark})
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for deadline := time.Now().Add(30 * time.Second); e.status(uuid).State != "exited"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pod %s is %s after its stage1 was killed", uuid, e.status(uuid).State)
		}
	}
	if !alive(child) {
		t.Fatal("the child died with stage1: nothing left for gc to kill, the test proves nothing")
	}
	// The default grace period: this run only marks the pod.
	e.must("gc")
	if alive(child) {
		t.Fatalf("pid %d, the app's background child, still runs once gc has marked its exited pod", child)
	}
}

// findProcess returns the pid of a process whose command line is argv, or 0.
func findProcess(argv []string) int {
	want := strings.Join(argv, "\x00") + "\x00"
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && string(b) == want {
			return pid
		}
	}
	return 0
}
