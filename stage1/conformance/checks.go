package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"podctl/lifecycle"
	"podctl/stage0"
	"podctl/stage1"
	"podctl/stage1/flavors"
)

// sh is an app that runs script with the image's shell.
func sh(name, script string) app {
	return app{name: name, exec: "/bin/sh", args: []string{"-c", script}}
}

// wantResult checks the finished pod's result.
func wantResult(t *testing.T, p *pod, want string) {
	t.Helper()
	if r := p.result(); r.Result != want {
		t.Errorf("pod result %q (%s), want %q; the pod's output:\n%s", r.Result, r.Message, want, p.output())
	}
}

// wantApp checks the status an app recorded.
func wantApp(t *testing.T, p *pod, app string, code int, reason string) {
	t.Helper()
	if st := p.appStatus(app); st.ExitCode != code || st.Reason != reason {
		t.Errorf("app %s recorded exit %d, reason %q (%s), want %d, %q", app, st.ExitCode, st.Reason, st.Message, code, reason)
	}
}

// wantCode checks the code the pod's stage1 exited with.
func wantCode(t *testing.T, p *pod, want int) {
	t.Helper()
	if code := p.wait(); code != want {
		t.Fatalf("the pod's stage1 exited %d (%s), want %d; its output:\n%s", code, p.cmd.ProcessState, want, p.output())
	}
}

// An app that exits 0: the pod's code is 0, its result success, and the
// app records 0, Completed.
func checkExitZero(t *testing.T, h *harness) {
	p := h.start(nil, sh("main", "exit 0"))
	wantCode(t, p, 0)
	wantResult(t, p, lifecycle.ResultSuccess)
	wantApp(t, p, "main", 0, lifecycle.ReasonCompleted)
}

// An app that exits 3: the pod's code is 3, its result error, and the app
// records 3, Error.
func checkExitCode(t *testing.T, h *harness) {
	p := h.start(nil, sh("main", "exit 3"))
	wantCode(t, p, 3)
	wantResult(t, p, lifecycle.ResultError)
	wantApp(t, p, "main", 3, lifecycle.ReasonError)
}

// Two apps, one fails once the other runs: the pod's code is the failed
// app's, and stage1 stops the other with SIGTERM (143, Cancelled).
func checkFailureCancelsOthers(t *testing.T, h *harness) {
	shared := []string{"volume=shared,target=/shared"}
	long := sh("long", "touch /shared/long-runs; exec sleep 600")
	long.mounts = shared
	failing := sh("failing", "while ! test -e /shared/long-runs; do sleep 0.05; done; exit 3")
	failing.mounts = shared
	p := h.start([]string{"shared,kind=empty"}, long, failing)
	wantCode(t, p, 3)
	wantResult(t, p, lifecycle.ResultError)
	wantApp(t, p, "failing", 3, lifecycle.ReasonError)
	wantApp(t, p, "long", 128+int(syscall.SIGTERM), lifecycle.ReasonCancelled)
}

// A pod that reads ready runs every app's command: the moment the wait for
// ready returns, a process of the pod's cgroups has exec'd it.
func checkReadyMeansRunning(t *testing.T, h *harness) {
	m := mark()
	p := h.start(nil, app{name: "main", exec: "/bin/sleep", args: []string{m}})
	p.waitReady()
	dirs := p.cgroups()
	if find(dirs, "/bin/sleep", m) == 0 {
		t.Fatalf("pod reads ready, but no process of its cgroups %v runs the app's command [/bin/sleep %s]: %v", dirs, m, processes(dirs))
	}
}

// Enter runs a command in the app: in its namespaces (the same UTS, mount
// and PID namespaces as the app's process), with its environment, and
// returns the command's exit code.
func checkEnter(t *testing.T, h *harness) {
	m := mark()
	a := app{name: "main", exec: "/bin/sleep", args: []string{m}, env: []string{"CONFORMANCE_ENV=from-the-app"}}
	p := h.start(nil, a)
	p.waitReady()
	pid := find(p.cgroups(), "/bin/sleep", m)
	if pid == 0 {
		t.Fatalf("no process of the pod runs the app's command: %v", processes(p.cgroups()))
	}
	want := []string{}
	for _, ns := range []string{"uts", "mnt", "pid"} {
		l, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", ns))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	selfMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	script := `for ns in uts mnt pid; do readlink /proc/self/ns/$ns; done; hostname; echo "$CONFORMANCE_ENV $FROM_IMAGE"`
	code, out, errOut := h.enter(p, "main", "/bin/sh", "-c", script)
	if code != 0 {
		t.Fatalf("enter exited %d; stdout %q, stderr %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("the entered command printed %q (stderr %q), want 5 lines", out, errOut)
	}
	for i, ns := range []string{"UTS", "mount", "PID"} {
		if lines[i] != want[i] {
			t.Errorf("the entered command is in %s namespace %s, the app in %s", ns, lines[i], want[i])
		}
	}
	if lines[3] == "" {
		t.Error("the entered command has no hostname")
	}
	// The app's own variable, and the one its image's manifest sets.
	if wantEnv := "from-the-app yes"; lines[4] != wantEnv {
		t.Errorf("the entered command sees $CONFORMANCE_ENV $FROM_IMAGE as %q, want the app's %q", lines[4], wantEnv)
	}
	if code, out, errOut := h.enter(p, "main", "/bin/sh", "-c", "exit 5"); code != 5 {
		t.Errorf("enter of `exit 5` returned %d, want 5; stdout %q, stderr %q", code, out, errOut)
	}
	// The caller stays where it was: a thread of it joins the app's
	// namespaces and cgroups, and must end with the command's start.
	if slices.ContainsFunc(processes(p.cgroups()), func(pr process) bool { return pr.pid == os.Getpid() }) {
		t.Errorf("the process that called Enter is left in the pod's cgroups")
	}
	if l, err := os.Readlink("/proc/self/ns/mnt"); err != nil || l != selfMnt {
		t.Errorf("the process that called Enter is in mount namespace %s (%v), was in %s", l, err, selfMnt)
	}
}

// enter runs cmd in an app of the pod with stage0.Enter, and returns its
// exit code and output.
func (h *harness) enter(p *pod, app string, cmd ...string) (int, string, string) {
	h.t.Helper()
	dir := h.t.TempDir()
	var files [2]*os.File
	for i, name := range []string{"stdout", "stderr"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			h.t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	code, err := stage0.Enter(h.c, p.uuid, app, cmd, stage1.Stdio{Stdout: files[0], Stderr: files[1]})
	if err != nil {
		h.t.Fatalf("entering app %s of pod %s: %v", app, p.uuid, err)
	}
	out, _ := os.ReadFile(files[0].Name())
	errOut, _ := os.ReadFile(files[1].Name())
	return code, string(out), string(errOut)
}

// Pause freezes every process of the pod (the kernel's freezer reads
// frozen) and the app stops; Resume thaws them and it goes on. A paused
// pod can still be stopped.
func checkPauseResume(t *testing.T, h *harness) {
	out := t.TempDir()
	count := filepath.Join(out, "count")
	a := sh("main", "while :; do echo x >> /out/count; sleep 0.02; done")
	a.mounts = []string{"volume=out,target=/out"}
	p := h.start([]string{"out,kind=host,source=" + out}, a)
	p.waitReady()
	grows := func(what string) {
		t.Helper()
		before := size(count)
		h.waitFor(what, p, func() bool { return size(count) > before })
	}
	grows("the app to write to its volume")
	dirs := p.cgroups()
	if _, err := stage0.Pause(h.c, p.uuid); err != nil {
		t.Fatalf("pausing: %v", err)
	}
	if frozen, state := freezerState(dirs); !frozen {
		t.Fatalf("the pod is paused, but no freezer of its cgroups reads frozen: %s", state)
	}
	if _, err := stage0.Resume(h.c, p.uuid); err != nil {
		t.Fatalf("resuming: %v", err)
	}
	if frozen, state := freezerState(dirs); frozen {
		t.Fatalf("the pod is resumed, but a freezer of its cgroups still reads frozen: %s", state)
	}
	grows("the app to go on writing once resumed")
	if _, err := stage0.Pause(h.c, p.uuid); err != nil {
		t.Fatalf("pausing again: %v", err)
	}
	if _, err := stage0.Stop(h.c, p.uuid, false, deadline); err != nil {
		t.Fatalf("stopping the paused pod: %v", err)
	}
	wantCode(t, p, 128+int(syscall.SIGTERM))
	wantResult(t, p, lifecycle.ResultCancelled)
}

// size is a file's size, 0 if it is not there.
func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// freezerState reports whether a freezer of the cgroup folders reads
// frozen (freezer.state in a v1 hierarchy, cgroup.events in a v2 one), and
// what each said.
func freezerState(dirs []string) (bool, string) {
	frozen := false
	var said []string
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "freezer.state")); err == nil {
			s := strings.TrimSpace(string(b))
			frozen = frozen || s == "FROZEN"
			said = append(said, d+": freezer.state "+s)
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "cgroup.events"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "frozen "); ok {
				frozen = frozen || v == "1"
				said = append(said, d+": cgroup.events frozen "+v)
			}
		}
	}
	return frozen, strings.Join(said, "; ")
}

// A graceful Stop of a running pod: stage1 stops the app with SIGTERM and
// exits 143, result cancelled, its cgroups and their record removed; a
// second Stop finds it already stopped.
func checkStop(t *testing.T, h *harness) {
	p := h.start(nil, app{name: "main", exec: "/bin/sleep", args: []string{"600"}})
	p.waitReady()
	dirs := p.cgroups()
	if _, err := stage0.Stop(h.c, p.uuid, false, deadline); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	wantCode(t, p, 128+int(syscall.SIGTERM))
	wantResult(t, p, lifecycle.ResultCancelled)
	wantApp(t, p, "main", 128+int(syscall.SIGTERM), lifecycle.ReasonCancelled)
	for _, d := range dirs {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the pod's cgroup folder %s is left once its stage1 has ended: %v", d, err)
		}
	}
	if p.hasCgroupRecord() {
		t.Errorf("the pod's cgroup record is left once its stage1 has removed its cgroups")
	}
	if _, err := stage0.Stop(h.c, p.uuid, false, deadline); !errors.Is(err, stage0.ErrAlreadyStopped) {
		t.Errorf("a second stop returned %v, want stage0.ErrAlreadyStopped", err)
	}
}

// A forced Stop of a pod whose app ignores SIGTERM: stage1 dies, the pod
// reads killed, no process is left in its cgroups, and gc then leaves no
// mount and no cgroup of it.
func checkStopForce(t *testing.T, h *harness) {
	p := h.start(nil, sh("main", "trap '' TERM; while :; do sleep 1; done"))
	p.waitReady()
	dirs := p.cgroups()
	if len(processes(dirs)) == 0 {
		t.Fatalf("the running pod's cgroups %v hold no process", dirs)
	}
	if _, err := stage0.Stop(h.c, p.uuid, true, deadline); err != nil {
		t.Fatalf("stopping with force: %v", err)
	}
	p.wait()
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the pod's stage1 ended with %s after a forced stop, want it killed by SIGKILL; its output:\n%s", p.cmd.ProcessState, p.output())
	}
	p.wantExited()
	wantResult(t, p, lifecycle.ResultKilled)
	h.waitFor("no process left in the pod's cgroups "+strings.Join(dirs, " "), nil, func() bool { return len(processes(dirs)) == 0 })
	h.gc(p, dirs)
}

// KillLeftovers, on a pod whose stage1 was killed, kills what its app
// started in the background: without a PID namespace (fly), that child
// outlives stage1.
func checkKillLeftovers(t *testing.T, h *harness) {
	m := mark()
	p := h.start(nil, sh("main", "sleep "+m+" & exec sleep 600"))
	p.waitReady()
	dirs := p.cgroups()
	h.waitFor("the app's background child [sleep "+m+"]", p, func() bool { return find(dirs, "sleep", m) != 0 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait()
	p.wantExited()
	if !p.hasCgroupRecord() {
		t.Fatalf("a killed stage1 left no cgroup record: gc would not find its folders")
	}
	if left := processes(dirs); len(left) == 0 {
		t.Logf("nothing of the pod outlived its stage1: KillLeftovers has nothing to kill")
	} else {
		t.Logf("left once stage1 was killed: %v", left)
	}
	lp := p.open()
	defer lp.Close()
	// As gc calls it: with the pod locked, so that no stage1 runs it.
	if err := lp.TryExclusiveLock(); err != nil {
		t.Fatalf("locking the exited pod: %v", err)
	}
	f, err := flavors.ForPod(lp)
	if err != nil {
		t.Fatal(err)
	}
	err = f.KillLeftovers(lp)
	if uerr := lp.Unlock(); uerr != nil {
		t.Fatal(uerr)
	}
	if err != nil {
		t.Fatalf("KillLeftovers: %v", err)
	}
	h.waitFor("no process left in the pod's cgroups once KillLeftovers returned", nil, func() bool { return len(processes(dirs)) == 0 })
}

// GC of a stopped pod removes it and leaves no mount below the pods folder
// and none of the cgroups it ran in.
func checkGC(t *testing.T, h *harness) {
	p := h.start(nil, app{name: "main", exec: "/bin/sleep", args: []string{"600"}})
	p.waitReady()
	dirs := p.cgroups()
	if _, err := stage0.Stop(h.c, p.uuid, false, deadline); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	p.wait()
	h.gc(p, dirs)
}

// gc collects the finished pod with no grace period and checks that it is
// gone, with its mounts and its cgroups dirs.
func (h *harness) gc(p *pod, dirs []string) {
	h.t.Helper()
	removed := false
	err := stage0.GC(h.c, stage0.GCOptions{}, func(ev stage0.GCEvent) {
		switch {
		case ev.What == "error":
			h.t.Errorf("gc: %s", ev.Message)
		case ev.What == "removed" && ev.UUID == p.uuid:
			removed = true
		}
	})
	if err != nil {
		h.t.Fatalf("gc: %v", err)
	}
	if !removed {
		h.t.Fatalf("gc did not remove pod %s", p.uuid)
	}
	pods := filepath.Join(h.c.DataDir, "pods")
	ms, err := lifecycle.MountPointsUnder(pods)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(ms) != 0 {
		h.t.Errorf("gc left mounts below %s: %v", pods, ms)
	}
	if _, err := lifecycle.PodFromUUIDString(h.c.DataDir, p.uuid); err == nil {
		h.t.Errorf("gc left pod %s", p.uuid)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			h.t.Errorf("gc left the pod's cgroup %s (%v)", d, err)
		}
	}
}
