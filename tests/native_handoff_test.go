package tests

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// stage1 makes a native pod's app cgroups after it has handed the init its
// pod. When they cannot be made (here a CPU limit beyond the kernel's
// largest quota, 2^44 µs a period, which stage0 does not check), the start
// fails as it did when they were made first: one line, exit 254, no app started, no cgroup folder of the
// pod left behind, and the pod's result saying why.
func TestNativeAppCgroupsFail(t *testing.T) {
	e := nativeEnv(t)
	e.refused("limiting app busybox", "run", "--net=none", cpuTooLarge, "example.com/busybox", "--exec", "/bin/true")
	var pods []struct {
		UUID  string `json:"uuid"`
		State string `json:"state"`
		Apps  []struct {
			Name     string `json:"name"`
			ExitCode *int   `json:"exit_code"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(e.must("list", "--format=json")), &pods); err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || pods[0].State != "exited" {
		t.Fatalf("pods after the failed start: %+v, want one exited", pods)
	}
	if a := pods[0].Apps; len(a) != 1 || a[0].ExitCode != nil {
		t.Errorf("the app: %+v, want one that never ran", a)
	}
	if left := podCgroupsUnder("/sys/fs/cgroup", map[string]bool{pods[0].UUID: true}); len(left) > 0 {
		t.Errorf("cgroup folders of the pod left: %v", left)
	}
	// Its result says why, not that a stage1 was killed.
	checkResult(t, e.status(pods[0].UUID), "error", "limiting app busybox")
}

// cpuTooLarge is a CPU limit stage0 takes and the kernel refuses: a
// quota beyond its largest (2^44 µs in each 100 ms period).
const cpuTooLarge = "--cpu=200000000"

// A pod that every flavor fails to run records why as its result.
func TestRunFailureResult(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		e.refused("limiting app busybox", "run", cpuTooLarge, "example.com/busybox", "--exec", "/bin/true")
		uuid := strings.Fields(e.must("list", "--no-legend", "--full"))[0]
		checkResult(t, e.status(uuid), "error", "limiting app busybox")
	})
}

// The init writes an app's spec to its exec helper as soon as it has
// forked it, before the app's root is ready: a spec larger than a pipe
// holds (64 KiB) waits for the helper to read it, and reaches the app
// whole. (Four variables: one argument may not pass 128 KiB.)
func TestNativeLargeSpec(t *testing.T) {
	e := nativeEnv(t)
	args := []string{"run", "--net=none"}
	for _, name := range []string{"B1", "B2", "B3", "B4"} {
		args = append(args, "--set-env="+name+"="+strings.Repeat("x", 30000))
	}
	r := e.podctl(append(args, "example.com/busybox", "--exec", "/bin/sh", "--", "-c", `printf '%s' "$B1$B2$B3$B4" | wc -c`)...)
	if r.code != 0 {
		t.Fatalf("a pod with a spec of 120 KB: exit %d: %.300s", r.code, r.stderr)
	}
	if got := strings.TrimSpace(r.stdout); got != strconv.Itoa(4*30000) {
		t.Errorf("the app's variables have %s bytes, want %d", got, 4*30000)
	}
}
