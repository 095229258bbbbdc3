package tests

import (
	"encoding/json"
	"testing"
)

// stage1 makes a native pod's app cgroups after it has handed the init its
// pod. When they cannot be made (here a CPU limit under the kernel's
// least quota, 1 ms a period), the start fails as it did when they were
// made first: one line, exit 254, no app started, and no cgroup folder of
// the pod left behind.
func TestNativeAppCgroupsFail(t *testing.T) {
	e := nativeEnv(t)
	e.refused("limiting app busybox", "run", "--net=none", "--cpu=1m", "example.com/busybox", "--exec", "/bin/true")
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
}
