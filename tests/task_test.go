package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pods as tasks: a time limit, standard input, a result for every ending.

// lastPod is the one pod of an env that has run one.
func (e *env) lastPod() podJSON {
	e.t.Helper()
	pods := e.list()
	if len(pods) != 1 {
		e.t.Fatalf("want one pod, have %+v", pods)
	}
	return e.status(pods[0].UUID)
}

func checkResult(t *testing.T, st podJSON, result, inMessage string) {
	t.Helper()
	if st.Result == nil || st.Result.Result != result || !strings.Contains(st.Result.Message, inMessage) {
		t.Fatalf("want result %s (%q), got %+v", result, inMessage, st.Result)
	}
}

func TestTimeout(t *testing.T) { forEachFlavor(t, testTimeout) }

func testTimeout(t *testing.T, e *env) {
	e.fetchBusybox()
	start := time.Now()
	r := e.podctl("run", "--timeout=1s", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	if r.code != 124 || time.Since(start) > 3*time.Second+500*time.Millisecond {
		t.Fatalf("sleep 60 with --timeout=1s: after %s: %s", time.Since(start), r)
	}
	st := e.lastPod()
	checkResult(t, st, "timeout", "--timeout=1s")
	if st.Apps[0].Reason != "Timeout" {
		t.Fatalf("app reason %q", st.Apps[0].Reason)
	}
	checkRefused(t, "negative timeout", e.podctl("run", "--timeout=-1s", "example.com/busybox"), "negative")
}

func TestStdin(t *testing.T) { forEachFlavor(t, testStdin) }

func testStdin(t *testing.T, e *env) {
	e.fetchBusybox()
	r := e.podctlIn("hi\n", "run", "--stdin", "example.com/busybox", "--exec", "/bin/cat")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("echo hi | run --stdin cat: %s", r)
	}
	// Without --stdin the app reads nothing, whatever podctl is given.
	r = e.podctlIn("hi\n", "run", "example.com/busybox", "--exec", "/bin/cat")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("run cat without --stdin: %s", r)
	}
}

// success, error and cancelled; killed is in TestStage1KilledResult.
func TestResults(t *testing.T) { forEachFlavor(t, testResults) }

func testResults(t *testing.T, e *env) {
	e.fetchBusybox()
	e.must("run", "example.com/busybox", "--exec", "/bin/true")
	checkResult(t, e.lastPod(), "success", "exited 0")
	e.must("gc", "--grace-period=0s")

	if r := e.podctl("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("exit 3: %s", r)
	}
	st := e.lastPod()
	checkResult(t, st, "error", "busybox exited with 3")
	if st.Apps[0].Reason != "Error" {
		t.Fatalf("app reason %q", st.Apps[0].Reason)
	}
	e.must("gc", "--grace-period=0s")

	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	st = e.status(uuid)
	checkResult(t, st, "cancelled", "SIGINT")
	if st.Apps[0].Reason != "Cancelled" {
		t.Fatalf("app reason %q", st.Apps[0].Reason)
	}
	// list shows the result too.
	if out := e.must("list"); !strings.Contains(out, "cancelled") {
		t.Fatalf("list does not show the result:\n%s", out)
	}
}

// A stage1 killed outright records no result: the pod reads as killed.
func TestStage1KilledResult(t *testing.T) { forEachFlavor(t, testStage1KilledResult) }

func testStage1KilledResult(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitCgroupEmpty(t, e.podCgroups(uuid))
	checkResult(t, e.status(uuid), "killed", "killed")
}

// An app that fails is run again, as the policy says, with its count.
func TestRestartOnFailure(t *testing.T) { forEachFlavor(t, testRestartOnFailure) }

func testRestartOnFailure(t *testing.T, e *env) {
	e.fetchBusybox()
	r := e.podctl("run", "--restart=on-failure:3", "--restart-backoff=100ms", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo ran; exit 1")
	if r.code != 1 || strings.Count(r.stdout, "ran\n") != 4 {
		t.Fatalf("on-failure:3 of an app exiting 1: %s", r)
	}
	st := e.lastPod()
	if st.Apps[0].RestartCount != 3 {
		t.Fatalf("restart count %d", st.Apps[0].RestartCount)
	}
	checkResult(t, st, "error", "exited with 1")
	// always, ended by stop: the loop ends with the pod.
	e.must("gc", "--grace-period=0s")
	cmd, uuid := e.startPod("--restart=always", "--restart-backoff=50ms", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "sleep 0.1")
	// Restarted again and again, until stopped.
	for deadline := time.Now().Add(20 * time.Second); e.status(uuid).Apps[0].RestartCount < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("always: restart count %d after 20 s", e.status(uuid).Apps[0].RestartCount)
		}
	}
	e.must("stop", uuid)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("stop did not end a pod that restarts its app")
	}
	if st := e.status(uuid); st.State != "exited" {
		t.Fatalf("after stop: %+v", st)
	}
	checkRefused(t, "bad policy", e.podctl("run", "--restart=sometimes", "example.com/busybox"), "on-failure")
}

// With --ready=notify the pod is ready once its app says READY=1 on
// $NOTIFY_SOCKET, not when it starts.
func TestReadyNotify(t *testing.T) { forEachFlavor(t, testReadyNotify) }

func testReadyNotify(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd := e.command("run", "--ready=notify", "example.com/busybox", "--user=nobody", "--exec", "/bin/sh", "--", "-c", "sleep 2; touch /tmp/said; /bin/notify READY=1; sleep 60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	uuid := waitRunning(t, e)
	if r := e.podctl("status", "--wait-ready=1s", uuid); r.code == 0 {
		t.Fatalf("ready before READY=1: %s", r)
	}
	e.must("status", "--wait-ready=30s", uuid)
	if r := e.podctl("enter", uuid, "/bin/test", "-e", "/tmp/said"); r.code != 0 {
		t.Fatalf("ready, but the app had not said so yet: %s", r)
	}
}

// stop --grace-period: SIGTERM, the pod terminating meanwhile, SIGKILL at
// the end. Two stops and an rm at once act in order.
func TestGracefulStop(t *testing.T) { forEachFlavor(t, testGracefulStop) }

func testGracefulStop(t *testing.T, e *env) {
	e.fetchBusybox()
	// The app ignores SIGTERM: only the kill at the end of the grace
	// period ends it.
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "trap '' TERM; while :; do sleep 0.1; done")
	start := time.Now()
	stops := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() { stops <- e.podctl("stop", "--grace-period=3s", uuid) }()
	}
	for deadline := time.Now().Add(2 * time.Second); e.status(uuid).State != "terminating"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a pod being stopped shows %s, not terminating", e.status(uuid).State)
		}
	}
	// Both stops are at work (each notes it in the pod's history) before
	// the rm comes.
	history := filepath.Join(e.dir, "pods", "run", uuid, "history")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(history)
		if strings.Count(string(b), " terminating\n") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two stops, but the history says:\n%s", b)
		}
	}
	// rm of a pod being stopped waits for the stop, then removes it.
	if r := e.podctl("rm", uuid); r.code != 0 {
		t.Fatalf("rm of a pod being stopped: %s", r)
	}
	for i := 0; i < 2; i++ {
		if r := <-stops; r.code != 0 {
			t.Fatalf("stop %d: %s", i, r)
		}
	}
	cmd.Wait()
	if d := time.Since(start); d < 2500*time.Millisecond || d > 15*time.Second {
		t.Fatalf("an app that ignores SIGTERM was stopped after %s with a grace period of 3s", d)
	}
	if pods := e.list(); len(pods) != 0 {
		t.Fatalf("pods left after rm: %+v", pods)
	}
}
