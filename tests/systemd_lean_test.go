package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The systemd flavor boots only what the apps need: the pod's systemd,
// logging all it does (PODCTL_STAGE1_DEBUG), runs none of the host's
// generators and, when the last app has ended, exits without unmounting
// the stage1 root's mounts one by one; the app's end is recorded all
// the same.
func TestSystemdLeanBoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "systemd"
	e.environ = []string{"PODCTL_STAGE1_DEBUG=1"}
	e.fetchBusybox()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	if r := e.podctl("run", "--net=none", "--uuid-file-save", uuidFile, "example.com/busybox", "--exec", "/bin/true"); r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	uuid := waitUUIDFile(t, uuidFile)
	st := e.status(uuid)
	if len(st.Apps) != 1 || st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 0 {
		t.Fatalf("the app's end was not recorded as 0: %+v", st.Apps)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "pods", "run", uuid, "stage1", "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Without its colours.
	log := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(string(b), "")
	// Proof that the log is the debug one, which tells each job.
	if !strings.Contains(log, "busybox.service: Installed new job busybox.service/start") {
		t.Fatalf("the pod's log is not systemd's debug log:\n%s", log)
	}
	if want := "Exiting immediately: unit systemd-exit.service succeeded"; !strings.Contains(log, want) {
		t.Errorf("the pod's systemd did not end by the pod's systemd-exit.service (%q)", want)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "About to execute") && strings.Contains(line, "-generators/") {
			t.Errorf("the pod's systemd ran a generator: %s", line)
		}
		if strings.Contains(line, "mounted -> unmounting") {
			t.Errorf("the pod's systemd unmounted a mount on its way out: %s", line)
		}
	}
}

// The shortened exit still stops the apps that run on: when the first app
// fails, the pod ends with its code, and the other app, stopped, has its
// end recorded.
func TestSystemdLeanExitStopsOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "systemd"
	e.fetchBusybox()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	start := time.Now()
	r := e.podctl("run", "--net=none", "--uuid-file-save", uuidFile,
		"example.com/busybox", "--name=fails", "--exec", "/bin/sh", "--", "-c", "sleep 0.5; exit 3", "---",
		"example.com/busybox", "--name=sleeps", "--exec", "/bin/sleep", "--", "600")
	if r.code != 3 {
		t.Fatalf("run: want exit 3, the first failure's: %s", r)
	}
	// The sleeper is stopped (SIGTERM), not waited for: well within its
	// 600 s and the 10 s stop grace.
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("the pod took %s to end after its first app failed", d)
	}
	st := e.status(waitUUIDFile(t, uuidFile))
	got := map[string]string{}
	for _, a := range st.Apps {
		if a.ExitCode == nil {
			t.Fatalf("app %s has no recorded end: %+v", a.Name, st.Apps)
		}
		got[a.Name] = strings.TrimSpace(a.Reason)
		if a.Name == "sleeps" && *a.ExitCode != 143 {
			t.Errorf("the stopped app ended with %d, want 143 (SIGTERM)", *a.ExitCode)
		}
	}
	if len(got) != 2 {
		t.Fatalf("apps: %+v", st.Apps)
	}
}

// nspawn's own seccomp filter is left out when every app loads podctl's
// default filter, and kept where it is the only one: an app run with
// --seccomp=unconfined. The pod's PID 1, the host's systemd, shows which
// (Seccomp: 2 under a filter, 0 without); the app is under one either way.
func TestSystemdNspawnFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "systemd"
	e.fetchBusybox()
	script := `echo "pid1 $(grep '^Seccomp:' /proc/1/status)"; echo "self $(grep '^Seccomp:' /proc/self/status)"`
	for _, c := range []struct {
		flags []string
		pid1  string
	}{
		{nil, "0"},
		{[]string{"--seccomp", "mode=remove,mkdir"}, "0"},
		{[]string{"--seccomp=unconfined"}, "2"},
		{[]string{"--seccomp", "mode=retain," + retainedCalls + ",getppid,dup3,pipe2,faccessat2,access,sigaltstack"}, "2"},
	} {
		args := append([]string{"run", "--net=none", "example.com/busybox"}, c.flags...)
		r := e.podctl(append(args, "--exec", "/bin/sh", "--", "-c", script)...)
		if r.code != 0 {
			t.Fatalf("run %v: %s", c.flags, r)
		}
		if want := "pid1 Seccomp:\t" + c.pid1; !strings.Contains(r.stdout, want) {
			t.Errorf("with %v, want %q: %s", c.flags, want, r)
		}
		if want := "self Seccomp:\t2"; !strings.Contains(r.stdout, want) {
			t.Errorf("with %v, the app is under no filter: %s", c.flags, r)
		}
	}
}
