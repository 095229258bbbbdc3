package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestExitCodeListStatusGC(t *testing.T) { forEachFlavor(t, testExitCodeListStatusGC) }

func testExitCodeListStatusGC(t *testing.T, e *env) {
	r := e.podctl("run", "--insecure-options=image", busyboxACI, "--exec", "/bin/sh", "--", "-c", "echo out; exit 7")
	if r.code != 7 {
		t.Fatalf("podctl run of an app exiting 7: %s", r)
	}
	if !strings.Contains(r.stdout, "out") {
		t.Fatalf("app output did not reach stdout: %s", r)
	}
	pods := e.list()
	if len(pods) != 1 {
		t.Fatalf("list shows %d pods, want 1", len(pods))
	}
	p := pods[0]
	if p.State != "exited" || len(p.Apps) != 1 || p.Apps[0].ExitCode == nil || *p.Apps[0].ExitCode != 7 {
		t.Fatalf("list: %+v", p)
	}
	if p.CreatedAt == nil || p.StartedAt == nil || p.GCMarkedAt != nil || !strings.HasPrefix(p.Apps[0].ImageID, "sha512-") {
		t.Fatalf("list times/image: %+v", p)
	}
	text := e.must("status", p.UUID[:8])
	for _, want := range []string{"state=exited\n", "exited=true\n", "app-busybox=7\n", "started="} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	table := e.must("list")
	if !strings.Contains(table, p.UUID[:8]) || !strings.Contains(table, "exited") {
		t.Errorf("list table:\n%s", table)
	}

	out := e.must("gc")
	if !strings.Contains(out, "marked exited pod "+p.UUID) {
		t.Fatalf("gc did not say it marked the pod:\n%s", out)
	}
	if st := e.status(p.UUID); st.State != "exited-garbage" || st.GCMarkedAt == nil {
		t.Fatalf("after gc: %+v", st)
	}
	// Still listed, and kept within the grace period.
	if len(e.list()) != 1 {
		t.Fatal("a marked pod must still be listed")
	}
	if out := e.must("gc"); !strings.Contains(out, "1 pod is within the grace period") {
		t.Fatalf("second gc should keep the pod and say so:\n%s", out)
	}
	if out := e.must("gc", "--verbose"); !strings.Contains(out, "within its grace period") {
		t.Fatalf("second gc should keep the pod and say so:\n%s", out)
	}
	out = e.must("gc", "--grace-period=0s")
	if !strings.Contains(out, "removed pod "+p.UUID) {
		t.Fatalf("gc --grace-period=0s:\n%s", out)
	}
	if len(e.list()) != 0 || len(e.podDirs()) != 0 {
		t.Fatalf("pod left after removal: %v", e.podDirs())
	}
	if out := e.must("gc"); strings.TrimSpace(out) != "no pod to collect" {
		t.Fatalf("gc with nothing to do printed %q", out)
	}
}

func TestExitCodeZeroAndSignal(t *testing.T) { forEachFlavor(t, testExitCodeZeroAndSignal) }

func testExitCodeZeroAndSignal(t *testing.T, e *env) {
	e.fetchBusybox()
	if r := e.podctl("run", "example.com/busybox", "--exec", "/bin/true"); r.code != 0 {
		t.Fatalf("true: %s", r)
	}
	r := e.podctl("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "kill -9 $$")
	if r.code != 128+9 {
		t.Fatalf("app killed by SIGKILL: %s", r)
	}
}

func TestMultiAppFirstFailureWins(t *testing.T) { forEachFlavor(t, testMultiAppFirstFailureWins) }

func testMultiAppFirstFailureWins(t *testing.T, e *env) {
	e.fetchBusybox()
	r := e.podctl("run",
		"example.com/busybox", "--name", "ok", "--exec", "/bin/sleep", "--", "5", "---",
		"example.com/busybox", "--name", "bad", "--exec", "/bin/sh", "--", "-c", "sleep 0.2; exit 3")
	if r.code != 3 {
		t.Fatalf("pod with a failing app: %s", r)
	}
	st := e.status(e.list()[0].UUID)
	codes := map[string]int{}
	for _, a := range st.Apps {
		if a.ExitCode == nil {
			t.Fatalf("app %s has no exit code: %+v", a.Name, st)
		}
		codes[a.Name] = *a.ExitCode
	}
	// The sleeper was stopped with SIGTERM when its sibling failed.
	if codes["bad"] != 3 || codes["ok"] != 128+15 {
		t.Fatalf("app codes %v", codes)
	}
}

func TestPrepareAndRunPrepared(t *testing.T) { forEachFlavor(t, testPrepareAndRunPrepared) }

func testPrepareAndRunPrepared(t *testing.T, e *env) {
	e.fetchBusybox()
	out := e.must("prepare", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo prepared-run; exit 4")
	uuid := lastLine(out)
	if st := e.status(uuid); st.State != "prepared" || st.StartedAt != nil {
		t.Fatalf("after prepare: %+v", st)
	}
	if q := strings.TrimSpace(e.must("prepare", "--quiet", "example.com/busybox")); len(q) != 36 {
		t.Fatalf("prepare --quiet printed %q", q)
	}
	r := e.podctl("run-prepared", uuid)
	if r.code != 4 || !strings.Contains(r.stdout, "prepared-run") {
		t.Fatalf("run-prepared: %s", r)
	}
	if st := e.status(uuid); st.State != "exited" || *st.Apps[0].ExitCode != 4 {
		t.Fatalf("after run-prepared: %+v", st)
	}
	// A pod runs once.
	r = e.podctl("run-prepared", uuid)
	if r.code != 254 || !strings.Contains(r.stderr, "not prepared") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("second run-prepared: %s", r)
	}
}

func TestUUIDFileSaveAndEnv(t *testing.T) { forEachFlavor(t, testUUIDFileSaveAndEnv) }

func testUUIDFileSaveAndEnv(t *testing.T, e *env) {
	e.fetchBusybox()
	file := filepath.Join(t.TempDir(), "uuid")
	r := e.podctl("run", "--uuid-file-save", file, "--set-env", "POD_WIDE=1",
		"example.com/busybox", "--environment", "MINE=2", "--exec", "/bin/sh", "--", "-c", `echo "$POD_WIDE $MINE $FROM_IMAGE $AC_APP_NAME $PODCTL_POD_UUID"`)
	if r.code != 0 {
		t.Fatal(r)
	}
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("1 2 yes busybox %s", saved)
	if strings.TrimSpace(r.stdout) != want {
		t.Fatalf("app saw %q, want %q", strings.TrimSpace(r.stdout), want)
	}
}

func TestPodsDoNotShareWrites(t *testing.T) { forEachFlavor(t, testPodsDoNotShareWrites) }

func testPodsDoNotShareWrites(t *testing.T, e *env) {
	e.fetchBusybox()
	write := func(content string) {
		r := e.podctl("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
			"test ! -e /data/file || { echo saw: $(cat /data/file); exit 9; }; echo "+content+" > /data/file")
		if r.code != 0 {
			t.Fatalf("pod writing %s: %s", content, r)
		}
	}
	write("first")
	write("second")
	// The shared tree is untouched.
	trees, _ := filepath.Glob(filepath.Join(e.dir, "images", "trees", "*", "rootfs", "data", "file"))
	if len(trees) != 0 {
		t.Fatalf("a pod wrote into the shared image tree: %v", trees)
	}
}

func TestNoOverlayCopiesTheTree(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	r := e.podctl("run", "--no-overlay", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo x > /data/f; cat /data/f")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "x" {
		t.Fatal(r)
	}
	uuid := e.list()[0].UUID
	if _, err := os.Stat(filepath.Join(e.dir, "pods", "run", uuid, "apps", "busybox", "rootfs", "data", "f")); err != nil {
		t.Fatalf("the copy should hold the pod's write: %v", err)
	}
}

func TestConcurrentRunsWithGCAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	const n = 20
	stop := make(chan struct{})
	var loops sync.WaitGroup
	var loopErrs []string
	var mu sync.Mutex
	loop := func(args ...string) {
		defer loops.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := e.podctl(args...); r.code != 0 {
				mu.Lock()
				loopErrs = append(loopErrs, fmt.Sprintf("%v: %s", args, r))
				mu.Unlock()
			}
		}
	}
	loops.Add(2)
	go loop("gc", "--grace-period=1h")
	go loop("list")

	var runs sync.WaitGroup
	codes := make([]result, n)
	for i := 0; i < n; i++ {
		runs.Add(1)
		go func(i int) {
			defer runs.Done()
			// Every flavor at once; a third of them systemd pods, whose
			// boots are what loads two cores most.
			codes[i] = e.podctl("run", "--stage1="+flavors[i%len(flavors)], "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "exit "+strconv.Itoa(i%5))
		}(i)
	}
	runs.Wait()
	close(stop)
	loops.Wait()
	for i, r := range codes {
		if r.code != i%5 {
			t.Errorf("run %d: %s", i, r)
		}
	}
	for _, le := range loopErrs {
		t.Errorf("beside the runs, %s", le)
	}
	pods := e.list()
	if len(pods) != n {
		t.Fatalf("%d pods listed, want %d", len(pods), n)
	}
	seen := map[int]int{}
	for _, p := range pods {
		if p.State != "exited" && p.State != "exited-garbage" {
			t.Errorf("pod %s is %s", p.UUID, p.State)
		}
		if len(p.Apps) != 1 || p.Apps[0].ExitCode == nil {
			t.Fatalf("pod %s has no exit code: %+v", p.UUID, p)
		}
		seen[*p.Apps[0].ExitCode]++
	}
	for c := 0; c < 5; c++ {
		if seen[c] != n/5 {
			t.Errorf("%d pods exited %d, want %d", seen[c], c, n/5)
		}
	}
	e.must("gc", "--grace-period=0s")
	e.must("gc", "--grace-period=0s")
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("pods left after gc: %v", left)
	}
}

func TestStage1KilledThenGC(t *testing.T) { forEachFlavor(t, testStage1KilledThenGC) }

func testStage1KilledThenGC(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	cgroups := e.podCgroups(uuid)
	if len(cgroupProcs(cgroups[0])) == 0 {
		t.Fatalf("the pod's cgroup %s holds no process", cgroups[0])
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// Every process of the pod dies with its stage1.
	waitCgroupEmpty(t, cgroups)
	if st := e.status(uuid); st.State != "exited" {
		t.Fatalf("after SIGKILL: %+v", st)
	}
	e.must("gc", "--grace-period=0s")
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("pods left: %v", left)
	}
	if m := mountsUnder(t, e.dir); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), uuid) {
		t.Fatalf("a mount of pod %s is left in the host's mount table", uuid)
	}
	checkCgroupsGone(t, cgroups)
}

func TestEnterAndStop(t *testing.T) { forEachFlavor(t, testEnterAndStop) }

func testEnterAndStop(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo inside > /tmp/marker; exec sleep 60")
	r := e.enterUntilOutput(uuid, "cat", "/tmp/marker")
	if strings.TrimSpace(r.stdout) != "inside" {
		t.Fatalf("enter cat: %s", r)
	}
	if r := e.podctl("enter", uuid, "/bin/sh", "-c", "exit 5"); r.code != 5 {
		t.Fatalf("enter exit code: %s", r)
	}
	if r := e.podctl("rm", uuid); r.code != 254 || !strings.Contains(r.stderr, "is running") {
		t.Fatalf("rm of a running pod: %s", r)
	}
	start := time.Now()
	if out := e.must("stop", uuid); strings.TrimSpace(out) != uuid {
		t.Fatalf("stop printed %q", out)
	}
	cmd.Wait()
	if time.Since(start) > 5*time.Second {
		t.Fatalf("stop took %s", time.Since(start))
	}
	// The app ended on SIGTERM, and podctl run says so.
	if code := cmd.ProcessState.ExitCode(); code != 128+15 {
		t.Fatalf("podctl run of a stopped pod exited %d, want 143", code)
	}
	if st := e.status(uuid); st.State != "exited" || st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 128+15 {
		t.Fatalf("after stop: %+v", st)
	}
	if r := e.podctl("stop", uuid); r.code != 0 || !strings.Contains(r.stderr, "already stopped") {
		t.Fatalf("stop of a stopped pod: %s", r)
	}
	if r := e.podctl("enter", uuid, "true"); r.code != 254 {
		t.Fatalf("enter of an exited pod: %s", r)
	}
	e.must("rm", uuid)
	if len(e.podDirs()) != 0 {
		t.Fatal("rm left the pod")
	}
}

func TestStopForceAndWait(t *testing.T) { forEachFlavor(t, testStopForceAndWait) }

func testStopForceAndWait(t *testing.T, e *env) {
	e.fetchBusybox()
	// An app that ignores SIGTERM.
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "trap '' TERM; while true; do sleep 1; done")
	done := make(chan result)
	go func() { done <- e.podctl("status", "--wait=20s", uuid) }()
	start := time.Now()
	e.must("stop", "--force", uuid)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stop --force took %s", d)
	}
	cmd.Wait()
	r := <-done
	if r.code != 0 || !strings.Contains(r.stdout, "state=exited") {
		t.Fatalf("status --wait: %s", r)
	}
}

func waitRunning(t *testing.T, e *env) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pods := e.list(); len(pods) == 1 && pods[0].State == "running" {
			return pods[0].UUID
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("pod never ran")
	return ""
}

// alive reports whether a process exists and is not a zombie (an orphan
// waits as a zombie until the machine's init reaps it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func TestStopForceKillsAppsThatChangedUser(t *testing.T) {
	forEachFlavor(t, testStopForceKillsAppsThatChangedUser)
}

func testStopForceKillsAppsThatChangedUser(t *testing.T, e *env) {
	e.fetchBusybox()
	// A non-root app loses its parent-death signal, and its child leaves
	// its parent: only the pod's cgroup still finds them.
	cmd, uuid := e.startPod("example.com/busybox", "--user", "nobody", "--group", "nogroup",
		"--exec", "/bin/sh", "--", "-c", "sleep 61 & id -u > /tmp/uid; exec sleep 62")
	r := e.enterUntilOutput(uuid, "cat", "/tmp/uid")
	if strings.TrimSpace(r.stdout) != "65534" {
		t.Fatalf("the app does not run as nobody: %s", r)
	}
	cgroups := e.podCgroups(uuid)
	if n := len(cgroupProcs(cgroups[0])); n < 2 {
		t.Fatalf("the pod's cgroup holds %d processes, want the app and its child", n)
	}
	e.must("stop", "--force", uuid)
	cmd.Wait()
	waitCgroupEmpty(t, cgroups)
	e.must("gc", "--grace-period=0s")
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("pods left: %v", left)
	}
	checkCgroupsGone(t, cgroups)
}

func TestRelativeDataDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	prep := exec.Command(podctlBin, "--dir", "data", "prepare", "--quiet", "--insecure-options=image", busyboxACI, "--exec", "/bin/true")
	prep.Dir = base
	out, err := prep.CombinedOutput()
	if err != nil {
		t.Fatalf("prepare with a relative --dir: %v %s", err, out)
	}
	run := exec.Command(podctlBin, "--dir", filepath.Join(filepath.Base(base), "data"), "run-prepared", strings.TrimSpace(string(out)))
	run.Dir = filepath.Dir(base)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("run-prepared from another folder: %v %s", err, out)
	}
	gc := exec.Command(podctlBin, "--dir", filepath.Join(base, "data"), "gc", "--grace-period=0s")
	if out, err := gc.CombinedOutput(); err != nil {
		t.Fatalf("gc: %v %s", err, out)
	}
}

func TestLogs(t *testing.T) { forEachFlavor(t, testLogs) }

func testLogs(t *testing.T, e *env) {
	e.fetchBusybox()
	r := e.podctl("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo one; echo oops >&2; sleep 0.2; echo two; printf partial")
	if r.code != 0 || r.stdout != "one\ntwo\npartial" || r.stderr != "oops\n" {
		t.Fatalf("run output: %s", r)
	}
	uuid := e.list()[0].UUID
	r = e.podctl("logs", uuid)
	if r.code != 0 || r.stdout != "one\ntwo\npartial" || r.stderr != "oops\n" {
		t.Fatalf("logs after exit: %s", r)
	}
	if r := e.podctl("logs", "--tail", "2", uuid); r.stdout != "two\npartial" || r.stderr != "" {
		t.Fatalf("logs --tail 2: %s", r)
	}
	// Still readable once marked for collection.
	e.must("gc")
	if r := e.podctl("logs", uuid); r.stdout != "one\ntwo\npartial" {
		t.Fatalf("logs of a marked pod: %s", r)
	}

	// --follow sees lines written while it runs, and ends with the pod.
	cmd := e.command("run", "example.com/busybox", "--name", "ticker", "--exec", "/bin/sh", "--", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var id string
	for i := 0; i < 200 && id == ""; i++ {
		for _, p := range e.list() {
			if p.State == "running" {
				id = p.UUID
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if id == "" {
		t.Fatal("the ticker pod never ran")
	}
	start := time.Now()
	r = e.podctl("logs", "--follow", id)
	cmd.Wait()
	if r.code != 0 || r.stdout != "tick 1\ntick 2\ntick 3\n" {
		t.Fatalf("logs --follow: %s", r)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("logs --follow returned before the pod ended (%s)", time.Since(start))
	}
}

// podctl run under a service manager's Type=notify says READY=1 once
// every app has started.
func TestNotifyReady(t *testing.T) { forEachFlavor(t, testNotifyReady) }

func testNotifyReady(t *testing.T, e *env) {
	e.fetchBusybox()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := e.command("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo started > /tmp/marker; sleep 30")
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	if !strings.Contains(string(buf[:n]), "READY=1") {
		t.Fatalf("notification %q has no READY=1", buf[:n])
	}
	uuid := e.list()[0].UUID
	if r := e.podctl("status", "--wait-ready=1s", uuid); r.code != 0 {
		t.Fatalf("notified READY before the pod was ready: %s", r)
	}
}

// What an app is given (environment, user, working directory, volumes) is
// what it sees.
func TestAppOptions(t *testing.T) { forEachFlavor(t, testAppOptions) }

func testAppOptions(t *testing.T, e *env) {
	e.fetchBusybox()
	ro, rw := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "data"), []byte("from host\n"), 0o644)
	os.Chmod(rw, 0o777)
	script := `echo "env=$GREETING"; echo "uid=$(id -u) gid=$(id -g)"; echo "wd=$(pwd)"; ` +
		`cat /ro/data; touch /ro/new 2>/dev/null && echo ro-writable || echo ro-refused; ` +
		`echo written > /rw/out && echo rw-ok; echo kept > /scratch/x && cat /scratch/x`
	r := e.podctl("run",
		"--volume", "hostro,kind=host,source="+ro+",readOnly=true",
		"--volume", "hostrw,kind=host,source="+rw,
		"--volume", "scratch,kind=empty,mode=1777",
		"--set-env", "GREETING=hello world $HOME",
		"example.com/busybox", "--user", "nobody", "--group", "nogroup", "--working-dir", "/tmp",
		"--mount", "volume=hostro,target=/ro", "--mount", "volume=hostrw,target=/rw", "--mount", "volume=scratch,target=/scratch",
		"--exec", "/bin/sh", "--", "-c", script)
	want := "env=hello world $HOME\nuid=65534 gid=65534\nwd=/tmp\nfrom host\nro-refused\nrw-ok\nkept\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("got %s\nwant stdout:\n%s", r, want)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "written\n" {
		t.Fatalf("the read-write volume did not get the write: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
		t.Fatal("the read-only volume was written")
	}
	checkRefused(t, "mount of an unknown volume", e.podctl("run", "example.com/busybox", "--mount", "volume=nope,target=/x"), "--volume")
	checkRefused(t, "volume with a missing source", e.podctl("run", "--volume", "v,kind=host,source=/does/not/exist", "example.com/busybox"), "does not exist")
}

// --interactive gives the app the caller's terminal; without it, the app's
// streams are not a terminal.
func TestInteractive(t *testing.T) { forEachFlavor(t, testInteractive) }

func testInteractive(t *testing.T, e *env) {
	e.fetchBusybox()
	run := func(args ...string) string {
		line := podctlBin + " --dir " + e.dir + " " + strings.Join(args, " ")
		// script gives podctl a pseudo-terminal, as a user's shell would.
		out, err := exec.Command("script", "-qec", line, "/dev/null").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}
	check := `'test -t 0 && test -t 1 && echo on-a-tty || echo not-a-tty'`
	if out := run("run", "--stage1="+e.flavor, "--interactive", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", check); !strings.Contains(out, "on-a-tty") {
		t.Fatalf("with --interactive the app has no terminal:\n%s", out)
	}
	if out := run("run", "--stage1="+e.flavor, "example.com/busybox", "--exec", "/bin/sh", "--", "-c", check); !strings.Contains(out, "not-a-tty") {
		t.Fatalf("without --interactive the app has a terminal:\n%s", out)
	}
	checkRefused(t, "interactive pod of two apps", e.podctl("run", "--interactive", "example.com/busybox", "---", "example.com/busybox", "--name", "two"), "one app")
}

// An app that cannot start fails the pod with podctl's own status and one
// line saying why; a user the image lacks is refused before a pod exists.
func TestAppStartFailure(t *testing.T) { forEachFlavor(t, testAppStartFailure) }

func testAppStartFailure(t *testing.T, e *env) {
	e.fetchBusybox()
	r := e.podctl("run", "example.com/busybox", "--exec", "/bin/nonexistent")
	if r.code != 254 || !strings.Contains(r.stderr, "podctl: app busybox:") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("run of a missing command, want one line: %s", r)
	}
	out := e.must("status", "--format=json", e.list()[0].UUID)
	if !strings.Contains(out, `"exit_code":254`) || !strings.Contains(out, `"message":"`) {
		t.Fatalf("status of an app that could not start: %s", out)
	}
	checkRefused(t, "unknown user", e.podctl("run", "example.com/busybox", "--user", "nosuchuser", "--exec", "/bin/true"), "nosuchuser")
	if len(e.list()) != 1 {
		t.Fatal("a refused user left a pod")
	}
	// A numeric user the image does not list still runs.
	r = e.podctl("run", "example.com/busybox", "--user", "1234", "--group", "1234", "--exec", "/bin/id")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "uid=1234 gid=1234") {
		t.Fatalf("numeric user: %s", r)
	}
}

// An app over its memory limit is killed and its status says so; a CPU
// limit holds the app to its share.
func TestLimits(t *testing.T) { forEachFlavor(t, testLimits) }

func testLimits(t *testing.T, e *env) {
	e.fetchBusybox()
	r := e.podctl("run", "example.com/busybox", "--memory", "20M", "--exec", "/bin/sh", "--", "-c", "head -c 200000000 /dev/zero | tail > /dev/null")
	if r.code != 137 {
		t.Fatalf("app over its memory limit: %s", r)
	}
	uuid := ""
	for _, p := range e.list() {
		uuid = p.UUID
	}
	out := e.must("status", "--format=json", uuid)
	if !strings.Contains(out, `"reason":"OOMKilled"`) {
		t.Fatalf("status of an app killed for its memory: %s", out)
	}
	// Under its limit, the same app runs to its end.
	if r := e.podctl("run", "example.com/busybox", "--memory", "200M", "--exec", "/bin/sh", "--", "-c", "head -c 20000000 /dev/zero | tail > /dev/null"); r.code != 0 {
		t.Fatalf("app under its memory limit: %s", r)
	}
	// A tenth of a core: the app's cgroup has a CFS quota of a tenth of
	// its period.
	r = e.podctl("run", "example.com/busybox", "--cpu", "100m", "--exec", "/bin/sh", "--", "-c",
		"p=$(grep ':cpu:' /proc/self/cgroup | cut -d: -f3); cat /sys/fs/cgroup/cpu$p/cpu.cfs_period_us /sys/fs/cgroup/cpu$p/cpu.cfs_quota_us")
	if r.code != 0 || strings.Fields(r.stdout)[0] != "100000" || strings.Fields(r.stdout)[1] != "10000" {
		t.Fatalf("app with a CPU limit of 100m: %s", r)
	}
	checkRefused(t, "bad memory size", e.podctl("run", "example.com/busybox", "--memory", "lots"), "--memory")
}

// A two-app pod whose apps exit 0 and 3 shows both codes and exits 3.
// The bad app fails once the good one has ended, which it learns from the
// pid the good one leaves in a volume they share: a failure first would
// cancel it, however loaded the machine.
func TestTwoAppCodes(t *testing.T) { forEachFlavor(t, testTwoAppCodes) }

func testTwoAppCodes(t *testing.T, e *env) {
	e.fetchBusybox()
	r := e.podctl("run", "--volume", "shared,kind=empty",
		"example.com/busybox", "--name", "good", "--mount", "volume=shared,target=/shared",
		"--exec", "/bin/sh", "--", "-c", "echo $$ > /shared/good.pid; exec /bin/true", "---",
		"example.com/busybox", "--name", "bad", "--mount", "volume=shared,target=/shared",
		"--exec", "/bin/sh", "--", "-c", "until [ -s /shared/good.pid ]; do sleep 0.05; done; "+
			"while kill -0 $(cat /shared/good.pid) 2>/dev/null; do sleep 0.05; done; exit 3")
	if r.code != 3 {
		t.Fatalf("pod with apps exiting 0 and 3: %s", r)
	}
	text := e.must("status", e.list()[0].UUID)
	if !strings.Contains(text, "app-good=0\n") || !strings.Contains(text, "app-bad=3\n") {
		t.Fatalf("status:\n%s", text)
	}
}

// Killing nspawn itself ends the pod, and gc then leaves nothing of it.
func TestSystemdNspawnKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "systemd"
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	cgroups := e.podCgroups(uuid)
	nspawn := 0
	for _, pid := range cgroupProcs(cgroups[0]) {
		if b, _ := os.ReadFile("/proc/" + pid + "/comm"); strings.TrimSpace(string(b)) == "systemd-nspawn" {
			nspawn, _ = strconv.Atoi(pid)
		}
	}
	if nspawn == 0 {
		t.Fatal("no systemd-nspawn process in the pod's cgroup")
	}
	syscall.Kill(nspawn, syscall.SIGKILL)
	cmd.Wait()
	// As a signal's end is reported: see also TestPodHolderKilled.
	if code := cmd.ProcessState.ExitCode(); code != 137 {
		t.Fatalf("podctl run after nspawn was killed exited %d, want 137", code)
	}
	waitCgroupEmpty(t, cgroups)
	e.must("gc", "--grace-period=0s")
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("pods left: %v", left)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), uuid) {
		t.Fatalf("a mount of pod %s is left", uuid)
	}
	checkCgroupsGone(t, cgroups)
}

// Choosing the systemd flavor without systemd-nspawn says what to install.
func TestSystemdFlavorMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	cmd := e.command("run", "--stage1=systemd", "example.com/busybox", "--exec", "/bin/true")
	cmd.Env = append(cmd.Env, "PATH=/nonexistent")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 254 || !strings.Contains(string(out), "systemd-container") {
		t.Fatalf("systemd flavor without nspawn: %v %s", err, out)
	}
	if len(e.podDirs()) != 0 {
		t.Fatal("the refused run left a pod")
	}
}

// A file can be a volume too, mounted on a file in the app's root.
func TestFileVolume(t *testing.T) { forEachFlavor(t, testFileVolume) }

func testFileVolume(t *testing.T, e *env) {
	e.fetchBusybox()
	f := filepath.Join(t.TempDir(), "conf")
	os.WriteFile(f, []byte("from a file\n"), 0o644)
	r := e.podctl("run", "--volume", "conf,kind=host,source="+f+",readOnly=true",
		"example.com/busybox", "--mount", "volume=conf,target=/etc/app/conf.txt", "--exec", "/bin/cat", "--", "/etc/app/conf.txt")
	if r.code != 0 || r.stdout != "from a file\n" {
		t.Fatalf("file volume: %s", r)
	}
	checkRefused(t, "bad volume mode", e.podctl("run", "--volume", "x,kind=empty,mode=999", "example.com/busybox"), "octal")
}

// A fork bomb stops at --pids-limit.
func TestPidsLimit(t *testing.T) { forEachFlavor(t, testPidsLimit) }

func testPidsLimit(t *testing.T, e *env) {
	e.fetchBusybox()
	bomb := `i=0; while [ $i -lt 40 ]; do sleep 33 & i=$((i+1)); done; echo all-forked`
	// busybox sh gives up when a fork fails.
	r := e.podctl("run", "example.com/busybox", "--pids-limit", "10", "--exec", "/bin/sh", "--", "-c", bomb)
	if r.code != 2 || !strings.Contains(r.stderr, "can't fork") || strings.Contains(r.stdout, "all-forked") {
		t.Fatalf("40 forks under a limit of 10 processes: %s", r)
	}
	if r := e.podctl("run", "example.com/busybox", "--pids-limit", "60", "--exec", "/bin/sh", "--", "-c", bomb); r.code != 0 || !strings.Contains(r.stdout, "all-forked") {
		t.Fatalf("40 forks under a limit of 60 processes: %s", r)
	}
	checkRefused(t, "negative limit", e.podctl("run", "example.com/busybox", "--pids-limit", "-1"), "negative")
}

// Descriptors podctl run is given beyond its standard streams do not reach
// the apps.
func TestNoStrayDescriptors(t *testing.T) { forEachFlavor(t, testNoStrayDescriptors) }

func testNoStrayDescriptors(t *testing.T, e *env) {
	e.fetchBusybox()
	extra, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd := e.command("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "ls /proc/$$/fd")
	// Descriptor 3 of podctl run, not close-on-exec, as a careless caller
	// leaves it.
	cmd.ExtraFiles = []*os.File{extra}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	fds := strings.Fields(out.String())
	// The shell's 0, 1 and 2, and the one ls reads the folder with: busybox
	// runs ls in the shell's own process.
	if len(fds) > 4 {
		t.Fatalf("the app has descriptors %v", fds)
	}
}
