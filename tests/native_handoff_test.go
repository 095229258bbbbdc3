package tests

import (
	"encoding/json"
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
