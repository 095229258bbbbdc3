package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bystander is a host process in a host cgroup of its own, beside the
// pods' cgroups: what a pod's rewritten records point podctl at.
type bystander struct {
	cmd *exec.Cmd
	dir string
}

func newBystander(t *testing.T, dir string) *bystander {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &bystander{cmd: exec.Command("sleep", "600"), dir: dir}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		b.cmd.Wait()
		os.Remove(dir)
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(b.cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// check fails the test unless the bystander and its cgroup are intact.
func (b *bystander) check(t *testing.T, after string) {
	t.Helper()
	if !alive(b.cmd.Process.Pid) {
		t.Errorf("%s killed the host process its records named", after)
	}
	if _, err := os.Stat(b.dir); err != nil {
		t.Errorf("%s removed the host cgroup its records named: %v", after, err)
	}
}

// A pod whose records name host processes and cgroups: stop, rm and gc
// act on none of them and say so in one line each. The stop still ends
// the pod once its grace period is over, by killing the cgroup folders
// named for it, and gc removes them.
func TestRewrittenRecords(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		app := []string{"example.com/busybox", "--exec", "/bin/sleep", "--", "600"}

		// Both records rewritten; a graceful stop, then rm.
		cmd, uuid := e.startPod(app...)
		defer cmd.Wait()
		cgroups := e.podCgroups(uuid)
		host := newBystander(t, filepath.Join(filepath.Dir(cgroups[0]), "bystander-"+uuid))
		other := newBystander(t, filepath.Join(filepath.Dir(cgroups[0]), "podctl-"+strings.Repeat("0", 8)+uuid[8:]))
		podDir := filepath.Join(e.dir, "pods", "run", uuid)
		write := func(name, content string) {
			if err := os.WriteFile(filepath.Join(podDir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("pid", strconv.Itoa(host.cmd.Process.Pid))
		write("stage1/cgroup", strings.Join([]string{host.dir, other.dir, host.dir + "/../" + filepath.Base(cgroups[0]), "relative/podctl-" + uuid}, "\n"))
		r := e.podctl("stop", "--grace-period=2s", uuid)
		if r.code != 0 {
			t.Fatalf("stop: %s", r)
		}
		for _, want := range []string{"pid " + strconv.Itoa(host.cmd.Process.Pid) + " does not hold the pod's lock", "not signalled", host.dir + `" in the pod's records is not named`, other.dir + `" in the pod's records is not named`, "is not an absolute, clean path"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stop did not say %q: %s", want, r.stderr)
			}
		}
		host.check(t, "stop")
		other.check(t, "stop")
		if r := e.podctl("rm", uuid); r.code != 0 {
			t.Fatalf("rm: %s", r)
		}
		host.check(t, "rm")
		other.check(t, "rm")
		waitCgroupEmpty(t, cgroups)
		e.must("gc", "--grace-period=0s")
		checkCgroupsGone(t, cgroups)

		// The pid rewritten, the cgroup record intact: a forced stop kills
		// the pod's own cgroup, and gc removes it.
		cmd2, uuid2 := e.startPod(app...)
		defer cmd2.Wait()
		cgroups2 := e.podCgroups(uuid2)
		if err := os.WriteFile(filepath.Join(e.dir, "pods", "run", uuid2, "pid"), []byte(strconv.Itoa(host.cmd.Process.Pid)), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := e.podctl("stop", "--force", uuid2); r.code != 0 || !strings.Contains(r.stderr, "not signalled") {
			t.Fatalf("stop --force: %s", r)
		}
		host.check(t, "stop --force")
		waitCgroupEmpty(t, cgroups2)
		e.must("gc", "--grace-period=0s")
		e.must("gc", "--grace-period=0s")
		host.check(t, "gc")
		other.check(t, "gc")
		checkCgroupsGone(t, cgroups2)
		deadline := time.Now().Add(30 * time.Second)
		for len(e.podDirs()) > 0 && time.Now().Before(deadline) {
			e.must("gc", "--grace-period=0s")
			time.Sleep(100 * time.Millisecond)
		}
		if left := e.podDirs(); len(left) > 0 {
			t.Errorf("gc left pods %v", left)
		}
	})
}
