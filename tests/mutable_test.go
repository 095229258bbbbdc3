package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appJSON is an app as app list and app status print it.
type appJSON struct {
	Name       string     `json:"name"`
	State      string     `json:"state"`
	ImageID    string     `json:"image_id"`
	ExitCode   *int       `json:"exit_code"`
	Reason     string     `json:"reason"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func (e *env) appList(uuid string) []appJSON {
	e.t.Helper()
	var apps []appJSON
	out := e.must("app", "list", "--format=json", uuid)
	if err := json.Unmarshal([]byte(out), &apps); err != nil {
		e.t.Fatalf("app list --format=json printed %q: %v", out, err)
	}
	return apps
}

func (e *env) appStatus(uuid, app string) appJSON {
	e.t.Helper()
	var a appJSON
	out := e.must("app", "status", "--format=json", uuid, "--app="+app)
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		e.t.Fatalf("app status --format=json printed %q: %v", out, err)
	}
	return a
}

// appStates is the apps' states, NAME=STATE, in the pod's order.
func appStates(apps []appJSON) string {
	var s []string
	for _, a := range apps {
		s = append(s, a.Name+"="+a.State)
	}
	return strings.Join(s, " ")
}

// startMutable starts a mutable pod with `run --mutable ARGS...` (or
// prepare --mutable and run-prepared, with prepared) in the background
// and waits until it is ready.
func (e *env) startMutable(prepared bool, args ...string) (*exec.Cmd, string) {
	e.t.Helper()
	if !prepared {
		return e.startPod(append([]string{"--mutable"}, args...)...)
	}
	uuid := lastLine(e.must(append([]string{"prepare", "--mutable", "--quiet"}, args...)...))
	cmd := e.command("run-prepared", uuid)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	// Until run-prepared has moved it to run/, the pod reads as prepared.
	for deadline := time.Now().Add(60 * time.Second); e.status(uuid).State != "running"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("pod %s is not running 60 s after run-prepared", uuid)
		}
	}
	e.must("status", "--wait-ready=30s", uuid)
	return cmd, uuid
}

// waitApp waits until the app's status satisfies ok, for 60 s at most.
func (e *env) waitApp(uuid, app string, ok func(appJSON) bool) appJSON {
	e.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		a := e.appStatus(uuid, app)
		if ok(a) {
			return a
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("app %s: status %+v after 60 s", app, a)
		}
	}
}

// A mutable pod starts with no app and stays up; two apps are added and
// started; one is stopped and removed while the other runs on; each
// app's state, exit code and log are its own; app exec runs in an added
// app; stop ends the pod.
func TestMutablePod(t *testing.T) { forEachIsolatedFlavor(t, testMutablePod) }

func testMutablePod(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startMutable(false)
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)

	if apps := e.appList(uuid); len(apps) != 0 {
		t.Fatalf("a mutable pod started with no image has apps: %+v", apps)
	}
	if out := e.must("app", "list", uuid); strings.TrimSpace(out) != "NAME  STATE  EXIT  REASON" {
		t.Errorf("app list of a pod with no app printed %q", out)
	}
	for _, name := range []string{"one", "two"} {
		script := "echo " + name + "-says-hi; exec sleep 600"
		if out := e.must("app", "add", uuid, "example.com/busybox", "--name", name, "--exec", "/bin/sh", "--", "-c", script); out != name+"\n" {
			t.Errorf("app add printed %q, want the app's name", out)
		}
	}
	if got := appStates(e.appList(uuid)); got != "one=created two=created" {
		t.Errorf("after app add: %s, want both created", got)
	}
	e.must("app", "start", uuid, "--app=one")
	e.must("app", "start", uuid, "--app=two")
	if got := appStates(e.appList(uuid)); got != "one=running two=running" {
		t.Errorf("after app start: %s, want both running", got)
	}
	if out := e.must("app", "exec", "--app=two", uuid, "/bin/sh", "-c", "echo $AC_APP_NAME"); out != "two\n" {
		t.Errorf("app exec in app two printed %q", out)
	}
	for _, name := range []string{"one", "two"} {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			out := e.must("logs", "--app", name, uuid)
			if strings.Contains(out, name+"-says-hi") {
				if strings.Count(out, "says-hi") != 1 {
					t.Errorf("the log of app %s holds another app's output: %q", name, out)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log of app %s lacks its output after 60 s: %q", name, out)
			}
		}
	}
	cgroups := e.podCgroups(uuid)
	oneCgroup := appCgroup(cgroups[0], e.flavor, "one")
	if _, err := os.Stat(oneCgroup); err != nil {
		t.Fatalf("%s: app one has no cgroup of its own: %v", e.flavor, err)
	}

	// app stop returns once the app has ended, its status recorded; the
	// other app and the pod run on.
	e.must("app", "stop", uuid, "--app=one")
	one := e.appStatus(uuid, "one")
	if one.State != "exited" || one.ExitCode == nil || *one.ExitCode != 143 || one.Reason != "Stopped" || one.FinishedAt == nil {
		t.Errorf("%s: app one after app stop: %+v, want exited 143 Stopped", e.flavor, one)
	}
	two := e.appStatus(uuid, "two")
	if two.State != "running" || two.ExitCode != nil || two.StartedAt == nil {
		t.Errorf("app two after app one's stop: %+v, want running", two)
	}
	if s := e.status(uuid); s.State != "running" {
		t.Errorf("the pod after app stop: %s, want running", s.State)
	}
	e.must("app", "rm", uuid, "--app=one")
	if got := appStates(e.appList(uuid)); got != "two=running" {
		t.Errorf("after app rm: %s, want two=running only", got)
	}
	if strings.Contains(e.must("cat-manifest", uuid), `"one"`) {
		t.Errorf("the pod manifest still names app one after app rm")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "pods", "run", uuid, "apps", "one")); !os.IsNotExist(err) {
		t.Errorf("app one's folder is left after app rm: %v", err)
	}
	checkCgroupsGone(t, []string{oneCgroup})

	// Refusals, each one line, changing nothing.
	e.refused("running already", "app", "start", uuid, "--app=two")
	e.refused(`no app "one"`, "app", "start", uuid, "--app=one")
	e.refused("has an app two already", "app", "add", uuid, "example.com/busybox", "--name", "two")
	e.refused("--app", "app", "stop", uuid)
	e.refused(`no image "example.com/nope"`, "app", "add", uuid, "example.com/nope", "--name", "nope")
	if e.flavor == "systemd" {
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
			t.Fatal(err)
		}
		e.refused("secret variables", "app", "add", uuid, "example.com/busybox", "--name", "secretive", "--environment-secret", "TOKEN="+secret)
	}
	for _, name := range []string{"nope", "secretive"} {
		if _, err := os.Stat(filepath.Join(e.dir, "pods", "run", uuid, "apps", name)); !os.IsNotExist(err) {
			t.Errorf("%s: a refused app add left the folder of app %s: %v", e.flavor, name, err)
		}
	}
	if got := appStates(e.appList(uuid)); got != "two=running" {
		t.Errorf("after the refusals: %s, want two=running only", got)
	}

	// The pod ends on stop, with its apps.
	e.must("stop", uuid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the mutable pod did not end within 60 s of podctl stop")
	}
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("podctl run --mutable exited %d after podctl stop, want 143 (SIGTERM)", code)
	}
	s := e.status(uuid)
	if s.State != "exited" || len(s.Apps) != 1 || s.Apps[0].Name != "two" || s.Apps[0].State != "exited" {
		t.Errorf("the stopped pod: %+v", s)
	}
	e.refused("apps are added, started, stopped and removed while the pod runs", "app", "add", uuid, "example.com/busybox", "--name", "late")
	waitCgroupEmpty(t, cgroups)
}

// A mutable pod prepared with an app and run with run-prepared: an added
// app's failure is its own, and the pod and its first app run on.
func TestMutablePodPrepared(t *testing.T) { forEachIsolatedFlavor(t, testMutablePodPrepared) }

func testMutablePodPrepared(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startMutable(true, "example.com/busybox", "--name", "first", "--exec", "/bin/sleep", "--", "600")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	if got := appStates(e.appList(uuid)); got != "first=running" {
		t.Fatalf("the prepared mutable pod: %s, want first=running", got)
	}
	e.must("app", "add", uuid, "example.com/busybox", "--name", "fails", "--exec", "/bin/sh", "--", "-c", "exit 3")
	e.must("app", "start", uuid, "--app=fails")
	a := e.waitApp(uuid, "fails", func(a appJSON) bool { return a.State == "exited" })
	if a.ExitCode == nil || *a.ExitCode != 3 || a.Reason != "Error" || a.FinishedAt == nil {
		t.Fatalf("the failing app: %+v, want exit 3 Error", a)
	}
	if got := appStates(e.appList(uuid)); got != "first=running fails=exited" {
		t.Errorf("after an added app failed: %s", got)
	}
	if s := e.status(uuid); s.State != "running" {
		t.Errorf("the pod after an added app failed: %s, want running", s.State)
	}
	// An app that cannot start at all: app start says why, in one line,
	// and the pod runs on.
	e.must("app", "add", uuid, "example.com/busybox", "--name", "nostart", "--exec", "/no/such/program")
	e.refused("/no/such/program", "app", "start", uuid, "--app=nostart")
	if s := e.status(uuid); s.State != "running" {
		t.Errorf("the pod after an added app could not start: %s, want running", s.State)
	}
	// Started again, it runs again, and fails again on its own.
	e.must("app", "start", uuid, "--app=fails")
	first := *a.FinishedAt
	again := e.waitApp(uuid, "fails", func(a appJSON) bool {
		return a.State == "exited" && a.FinishedAt != nil && a.FinishedAt.After(first)
	})
	if again.ExitCode == nil || *again.ExitCode != 3 {
		t.Errorf("the failing app started again: %+v, want exit 3", again)
	}
	e.must("stop", uuid)
	cmd.Wait()
	if s := e.status(uuid); s.State != "exited" {
		t.Errorf("the pod after stop: %s, want exited", s.State)
	}
}

// App verbs are refused, in one line, to a pod that is not mutable, and
// --mutable to fly, which does not run mutable pods.
func TestMutableRefusals(t *testing.T) { forEachIsolatedFlavor(t, testMutableRefusals) }

func testMutableRefusals(t *testing.T, e *env) {
	e.fetchBusybox()
	fly := &env{t: t, dir: e.dir, flavor: "fly"}
	fly.refused("--mutable pods run on the native and systemd flavors, not fly", "run", "--mutable")
	fly.refused("--mutable pods run on the native and systemd flavors, not fly", "prepare", "--mutable", "example.com/busybox")
	e.refused("--mutable pods have no metadata service", "run", "--mutable", "--mds-register", "--net=none")
	e.refused("--mutable pods have no metadata service", "prepare", "--mutable", "--mds-register", "--net=none", "example.com/busybox")
	e.refused(`podctl app has no verb "bogus"`, "app", "bogus")
	e.refused("needs a pod UUID", "app", "list")
	e.noPods()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	e.refused("is not mutable", "app", "add", uuid, "example.com/busybox", "--name", "more")
	e.refused("is not mutable", "app", "stop", uuid, "--app=busybox")
	e.refused("is not mutable", "app", "rm", uuid, "--app=busybox")
	s := e.status(uuid)
	if s.State != "running" || len(s.Apps) != 1 || s.Apps[0].State != "running" {
		t.Errorf("the immutable pod after the refused app verbs: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "pods", "run", uuid, "apps", "more")); !os.IsNotExist(err) {
		t.Errorf("the refused app add left a folder: %v", err)
	}
}

// appCgroup is the cgroup folder of an app of a pod whose folder in the
// tracking hierarchy is top: native's own child, or the app's service
// in the pod's systemd's tree.
func appCgroup(top, flavor, app string) string {
	if flavor == "native" {
		return filepath.Join(top, app)
	}
	found := filepath.Join(top, "no service "+app)
	filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == app+".service" {
			found = path
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// Under --restart=always, an app that ends by itself is restarted, and
// one that app stop ends is not: its status says Stopped, and app start
// starts it again.
func TestMutableStopIsNotRestarted(t *testing.T) {
	forEachIsolatedFlavor(t, testMutableStopIsNotRestarted)
}

func testMutableStopIsNotRestarted(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startMutable(false, "--restart=always", "--restart-backoff=100ms")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	e.must("app", "add", uuid, "example.com/busybox", "--name", "short", "--exec", "/bin/true")
	e.must("app", "add", uuid, "example.com/busybox", "--name", "long", "--exec", "/bin/sleep", "--", "600")
	e.must("app", "start", uuid, "--app=short")
	e.must("app", "start", uuid, "--app=long")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var restarts int
		for _, a := range e.status(uuid).Apps {
			if a.Name == "short" {
				restarts = a.RestartCount
			}
		}
		if restarts >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: app short, which exits at once, was restarted %d times in 60 s under --restart=always", e.flavor, restarts)
		}
	}
	e.must("app", "stop", uuid, "--app=long")
	long := e.appStatus(uuid, "long")
	if long.State != "exited" || long.Reason != "Stopped" {
		t.Errorf("%s: app long after app stop: %+v, want exited Stopped", e.flavor, long)
	}
	for _, a := range e.status(uuid).Apps {
		if a.Name == "long" && a.RestartCount != 0 {
			t.Errorf("%s: app long was restarted after app stop: %+v", e.flavor, a)
		}
	}
	e.must("app", "start", uuid, "--app=long")
	if long = e.appStatus(uuid, "long"); long.State != "running" {
		t.Errorf("%s: app long after app start: %+v, want running", e.flavor, long)
	}
}

// An app added to a mutable pod is warned of as a prepared one is: what
// of its image podctl does not apply, in one line.
func TestMutableAppAddWarns(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		aceImage{name: "example.com/unapplied-add", app: `{"exec":["/bin/true"],"user":"0","group":"0",
"isolators":[{"name":"os/linux/cpu-shares","value":512}]}`}.fetch(t, e)
		cmd, uuid := e.startMutable(false)
		defer cmd.Wait()
		defer e.podctl("stop", "--force", uuid)
		r := e.podctl("app", "add", uuid, "example.com/unapplied-add", "--name", "job")
		if r.code != 0 || strings.Count(r.stderr, "warning") != 1 || !strings.Contains(r.stderr, "isolator os/linux/cpu-shares") {
			t.Fatalf("app add: want one warning naming os/linux/cpu-shares: %s", r)
		}
	})
}
