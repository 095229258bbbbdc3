package tests

import (
	"encoding/json"
	"fmt"
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

// waitHandedOver waits until the native pod's stage1, run as cmd, has
// become podctl-wait, and checks what it keeps: one thread. said is what
// run said on stderr, if the test keeps it.
func waitHandedOver(t *testing.T, cmd *exec.Cmd, said fmt.Stringer) {
	t.Helper()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil && !ended(pid) {
			// In its execve: its first thread, gone, shows no executable
			// until the others have ended.
			if time.Now().After(deadline) {
				t.Fatalf("the pod's stage1 (pid %d) shows no executable for 30 s: %v", pid, err)
			}
			continue
		}
		if err != nil {
			cmd.Wait()
			var stderr string
			if said != nil {
				stderr = said.String()
			}
			t.Fatalf("the pod's stage1 (pid %d) ended before it became podctl-wait: %s, stderr %q", pid, cmd.ProcessState, stderr)
		}
		if filepath.Base(exe) == "podctl-wait" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod's stage1 (pid %d) is still %s after 30 s, not podctl-wait", pid, exe)
		}
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) != 1 {
		t.Fatalf("podctl-wait has %d threads (%v), want one", len(tasks), err)
	}
}

// ended reports whether process pid has ended: it is gone, or a zombie
// whose threads have all ended (a zombie first thread with others alive
// is a process in an execve another thread made).
func ended(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	zombie, threads := false, 0
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			zombie = strings.HasPrefix(strings.TrimSpace(v), "Z")
		}
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return zombie && threads <= 1
}

// A native pod that runs a moment has its stage1 become podctl-wait,
// which keeps one thread and the pod's lock, passes a stop on to the pod,
// and, once the pod has ended, ends it as stage1 would: the apps' exit
// code, the pod's result, its cgroups gone.
func TestNativeStage1HandsOver(t *testing.T) {
	e := nativeEnv(t)
	cmd, uuid := e.startPod("--net=none", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	pid := cmd.Process.Pid
	waitHandedOver(t, cmd, nil)
	st := e.status(uuid)
	if st.State != "running" || st.Pid != pid {
		t.Fatalf("the handed-over pod: %+v, want running with stage1 pid %d", st, pid)
	}
	// ps and pkill -f still find it as the podctl run it was.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if want := strings.Join(cmd.Args, "\x00") + "\x00"; err != nil || !strings.HasPrefix(string(b), want) || strings.Trim(string(b[len(want):]), "\x00") != "" {
		t.Fatalf("podctl-wait's command line: %q (%v), want podctl run's: %q", b, err, want)
	}
	dirs := e.podCgroups(uuid)
	if len(dirs) == 0 {
		t.Fatal("the running pod records no cgroup")
	}
	e.must("stop", uuid)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("run of a pod stopped after the hand-over exited %d (%s), want 143: its app ended by SIGTERM", code, cmd.ProcessState)
	}
	st = e.status(uuid)
	if st.State != "exited" || len(st.Apps) != 1 || st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 143 {
		t.Fatalf("after the stop: %+v", st)
	}
	checkCgroupsGone(t, dirs)
}

// The pod's end after a hand-over, without a stop: run exits with the
// app's code, and what the end says goes to run's stderr.
func TestNativeHandedOverExit(t *testing.T) {
	e := nativeEnv(t)
	var stderr strings.Builder
	cmd, uuid := e.startPodSaying(&stderr, "--net=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "while [ ! -e /go ]; do sleep 0.05; done; exit 7")
	waitHandedOver(t, cmd, &stderr)
	dirs := e.podCgroups(uuid)
	e.enterUntil(uuid, "/bin/touch", "/go")
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 7 || stderr.String() != "" {
		t.Fatalf("run exited %d (%s), stderr %q; want 7 and nothing said", code, cmd.ProcessState, stderr.String())
	}
	checkResult(t, e.status(uuid), "error", "app busybox exited with 7")
	checkCgroupsGone(t, dirs)
}

// An init killed after the hand-over: run says so in one line, exits 137,
// and the pod's result says what happened, as before it.
func TestNativeHandedOverInitKilled(t *testing.T) {
	e := nativeEnv(t)
	var stderr strings.Builder
	cmd, uuid := e.startPodSaying(&stderr, "--net=none", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	waitHandedOver(t, cmd, &stderr)
	dirs := e.podCgroups(uuid)
	syscall.Kill(childOf(t, cmd.Process.Pid), syscall.SIGKILL)
	cmd.Wait()
	want := "the pod's init was killed by SIGKILL"
	if code := cmd.ProcessState.ExitCode(); code != 137 || stderr.String() != "podctl: "+want+", and its apps with it\n" {
		t.Fatalf("run exited %d (%s), stderr %q; want 137 and one line %q", code, cmd.ProcessState, stderr.String(), want)
	}
	checkResult(t, e.status(uuid), "killed", want)
	checkCgroupsGone(t, dirs)
}

// podctl-wait killed: the pod ends with it (the init dies with the thread
// that forked it, which podctl-wait is), reads as exited, and gc removes
// what its end would have.
func TestNativeWaiterKilled(t *testing.T) {
	e := nativeEnv(t)
	cmd, uuid := e.startPod("--net=none", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	waitHandedOver(t, cmd, nil)
	dirs := e.podCgroups(uuid)
	cmd.Process.Kill()
	cmd.Wait()
	waitCgroupEmpty(t, dirs)
	if st := e.status(uuid); st.State != "exited" {
		t.Fatalf("the pod of a killed podctl-wait is %s, want exited", st.State)
	}
	e.must("gc", "--grace-period=0s")
	checkCgroupsGone(t, dirs)
}

// The pod's usage is recorded after the hand-over as before it, a
// sample at a time by podctl, whose samplers do not outlive their sample.
func TestNativeHandedOverStats(t *testing.T) {
	e := nativeEnv(t)
	e.environ = append(e.environ, "PODCTL_STATS_INTERVAL=100ms")
	cmd, uuid := e.startPod("--net=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "while :; do :; done")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	waitHandedOver(t, cmd, nil)
	recorded := func() int {
		var h struct {
			Recorded int `json:"recorded"`
			Samples  []struct {
				Pod struct {
					CPUPercent *float64 `json:"cpu_percent"`
				} `json:"pod"`
			} `json:"samples"`
		}
		out := e.must("stats", "--history", "--points", "1", "--format=json", uuid)
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("stats --history printed %q: %v", out, err)
		}
		if h.Recorded > 1 && (len(h.Samples) == 0 || h.Samples[0].Pod.CPUPercent == nil || *h.Samples[0].Pod.CPUPercent < 10) {
			t.Fatalf("a busy pod's last sample: %s", out)
		}
		return h.Recorded
	}
	n := recorded()
	for deadline := time.Now().Add(30 * time.Second); recorded() < n+3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d samples recorded in 30 s after the hand-over, from %d: want 3 more", recorded(), n)
		}
	}
	// Only the init is left a child for long: each sampler ends once it
	// has written its sample.
	for deadline := time.Now().Add(30 * time.Second); len(childrenOf(cmd.Process.Pid)) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("podctl-wait has children %v for 30 s, want the init alone between samples", childrenOf(cmd.Process.Pid))
		}
	}
}

// Without podctl-wait beside podctl, stage1 waits for the pod itself.
func TestNativeWithoutWaiter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	for _, name := range []string{"podctl", "podctl-exec"} {
		// By cp: see TestNativeWithoutExecHelper.
		if out, err := exec.Command("cp", filepath.Join(filepath.Dir(podctlBin), name), dir).CombinedOutput(); err != nil {
			t.Fatalf("copying %s: %v: %s", name, err, out)
		}
	}
	bin, data := filepath.Join(dir, "podctl"), filepath.Join(dir, "data")
	defer exec.Command(bin, "--dir", data, "gc", "--grace-period=0s").Run()
	if out, err := exec.Command(bin, "--dir", data, "fetch", "--insecure-options=image", busyboxACI).CombinedOutput(); err != nil {
		t.Fatalf("fetch: %v: %s", err, out)
	}
	cmd := exec.Command(bin, "--dir", data, "run", "--stage1=native", "--net=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "sleep 1; exit 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Long past the hand-over's moment, stage1 is still podctl.
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); err == nil && filepath.Base(exe) != "podctl" {
			t.Fatalf("stage1 became %s with no podctl-wait beside podctl", exe)
		}
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 5 {
		t.Fatalf("run exited %d, want the app's 5", code)
	}
}

// podctl-wait run by hand says what it is for, in one line, and exits 2.
func TestWaiterByHand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(filepath.Dir(podctlBin), "podctl-wait")
	for _, args := range [][]string{nil,
		{"podctl-wait-protocol/0", "1", "3", "4", "0", "idle=0", "0", "0", "podctl"},
		{"podctl-wait-protocol/1", "x", "3", "4", "0", "idle=0", "0", "0", "podctl"},
		{"podctl-wait-protocol/1", "1", "3", "4", "0", "idle=0", "9", "0", "podctl"},
		{"podctl-wait-protocol/1", "1", "3", "4", "0", "idle=0", "0", "9", "podctl"}} {
		var stderr strings.Builder
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "run pods with podctl run") || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("podctl-wait %q: %v, stderr %q; want exit 2 and one line", args, err, stderr.String())
		}
	}
	out, err := exec.Command(bin, "--protocol").Output()
	if err != nil || string(out) != "podctl-wait-protocol/1\n" {
		t.Errorf("podctl-wait --protocol: %q, %v", out, err)
	}
}

// A sampler that cannot record says why once, on run's stderr, and is not
// run again; the pod goes on, and ends as it would.
func TestNativeHandedOverSamplerFails(t *testing.T) {
	e := nativeEnv(t)
	e.environ = append(e.environ, "PODCTL_STATS_INTERVAL=50ms")
	var stderr lockedBuffer
	cmd, uuid := e.startPodSaying(&stderr, "--net=none", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	waitHandedOver(t, cmd, &stderr)
	// The stats file becomes a folder: an append to it fails.
	var podDir string
	for _, d := range e.podDirs() {
		if filepath.Base(d) == uuid {
			podDir = d
		}
	}
	stats := filepath.Join(podDir, "stage1", "stats")
	if err := os.Remove(stats); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.Mkdir(stats, 0o700); err != nil {
		t.Fatal(err)
	}
	// Samplers come every 50 ms, or would: give them a few.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "recording the pod's usage"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no sampler said it failed in 30 s")
		}
	}
	// Ten intervals more, in which a sampler run again would say it again.
	for until := time.Now().Add(500 * time.Millisecond); time.Now().Before(until); time.Sleep(20 * time.Millisecond) {
		if strings.Count(stderr.String(), "\n") > 1 {
			t.Fatalf("the sampler ran again after it failed: %q", stderr.String())
		}
	}
	e.must("stop", uuid)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("run exited %d after a sampler failed, want 143", code)
	}
	if n := strings.Count(stderr.String(), "\n"); n != 1 || !strings.HasPrefix(stderr.String(), "podctl: recording the pod's usage: ") {
		t.Fatalf("run said %q, want one line about the usage", stderr.String())
	}
}

// lockedBuffer is a buffer that a command writes to while the test reads
// it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// podctl stop at any moment around the hand-over (before it, during
// stage1's execve, after it) stops the pod: no stop is lost.
func TestNativeStopAroundHandOver(t *testing.T) {
	e := nativeEnv(t)
	for i := 0; i < 24; i++ {
		cmd, uuid := e.startPod("--net=none", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
		// The hand-over comes 100 ms after the apps run, which they are
		// said to a moment before: the stop comes at another moment of
		// it each time.
		time.Sleep(time.Duration(60+5*i) * time.Millisecond)
		r := e.podctl("stop", "--grace-period=20s", uuid)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("stop %d ms after ready was lost: run still ran 30 s later (%s)", 60+5*i, r)
		}
		if code := cmd.ProcessState.ExitCode(); code != 143 || r.code != 0 {
			t.Fatalf("run exited %d (%s) after stop %d ms after ready, want 143; stop: %s", code, cmd.ProcessState, 60+5*i, r)
		}
	}
}
