package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOneExitRule holds every flavor to the one exit status rule of
// Documentation/commands.md: the same event gives the same code, the same
// line, and the same result, reasons and events.
func TestOneExitRule(t *testing.T) { forEachFlavor(t, testOneExitRule) }

func testOneExitRule(t *testing.T, e *env) {
	e.fetchBusybox()
	// A stop by signal: run exits as a shell reports the signal; the apps
	// get SIGTERM and record 143, Cancelled.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
		cmd.Process.Signal(sig)
		checkCancelled(t, e, cmd, uuid, sig)
	}
	// Restarts end with the stop: the code is the signal's, not 0.
	cmd, uuid := e.startPod("--restart=always", "--restart-backoff=100ms", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	cmd.Process.Signal(syscall.SIGINT)
	checkCancelled(t, e, cmd, uuid, syscall.SIGINT)

	// Ctrl-C on a terminal reaches the foreground process group, not
	// only podctl run: the apps must not see it.
	ctrlC(t, e)

	// An app killed for memory: 137, and one line saying so.
	e.must("gc", "--grace-period=0s")
	r := e.podctl("run", "example.com/busybox", "--memory", "16M", "--exec", "/bin/sh", "--", "-c", "x=a; while true; do x=$x$x; done")
	want := "podctl: app busybox: killed for using more than its memory limit\n"
	if r.code != 137 || r.stderr != want {
		t.Fatalf("an app over its memory limit: want exit 137 and stderr %q, got %s", want, r)
	}
	st := e.lastPod()
	checkResult(t, st, "error", "app busybox exited with 137 (OOMKilled)")
	if a := st.Apps[0]; a.Reason != "OOMKilled" || a.ExitCode == nil || *a.ExitCode != 137 {
		t.Fatalf("an app over its memory limit: status %+v", a)
	}
	checkExitEvents(t, e, st.UUID, 137, "OOMKilled", 137)
}

// checkCancelled waits for a pod's run stopped by sig and checks its code,
// result, app status and events.
func checkCancelled(t *testing.T, e *env, cmd *exec.Cmd, uuid string, sig syscall.Signal) {
	t.Helper()
	cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	name := unix.SignalName(sig)
	if code != 128+int(sig) {
		t.Fatalf("podctl run stopped by %s exited %d (%s), want %d", name, code, cmd.ProcessState, 128+int(sig))
	}
	st := e.status(uuid)
	checkResult(t, st, "cancelled", "podctl run got "+name+" and stopped the apps")
	for _, a := range st.Apps {
		if a.Reason != "Cancelled" || a.ExitCode == nil || *a.ExitCode != 143 {
			t.Fatalf("after %s, app %s: reason %q, exit %v; want Cancelled, 143", name, a.Name, a.Reason, a.ExitCode)
		}
	}
	checkExitEvents(t, e, uuid, 143, "Cancelled", 128+int(sig))
}

// checkExitEvents checks the last exited events of a pod: its app's (code
// and reason) and then the pod's (podCode).
func checkExitEvents(t *testing.T, e *env, uuid string, appCode int, reason string, podCode int) {
	t.Helper()
	var app, pod *struct {
		App      string `json:"app"`
		ExitCode *int   `json:"exit_code"`
		Message  string `json:"message"`
	}
	out := e.must("events", "--format=json", "--filter", "type=exited", "--filter", "pod="+uuid)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		ev := &struct {
			App      string `json:"app"`
			ExitCode *int   `json:"exit_code"`
			Message  string `json:"message"`
		}{}
		if err := json.Unmarshal([]byte(line), ev); err != nil {
			t.Fatalf("events printed %q: %v", line, err)
		}
		if ev.App != "" {
			app = ev
		} else {
			pod = ev
		}
	}
	if app == nil || pod == nil || app.ExitCode == nil || pod.ExitCode == nil ||
		*app.ExitCode != appCode || app.Message != reason || *pod.ExitCode != podCode {
		t.Fatalf("exited events of pod %s: want the app's %d %s and the pod's %d, got:\n%s", uuid, appCode, reason, podCode, out)
	}
}

// ctrlC runs a pod on a pseudo-terminal and types Ctrl-C: run exits 130,
// the app is stopped by stage1 (SIGTERM, Cancelled), not by the terminal.
// With --interactive, Ctrl-C is the app's: a shell that traps it goes on,
// and the pod ends as it does.
func ctrlC(t *testing.T, e *env) {
	t.Helper()
	cmd, out := onTerminal(t, e, "--uuid-file-save", e.dir+"/ctrl-c.uuid", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	uuid := waitUUIDFile(t, e.dir+"/ctrl-c.uuid")
	e.must("status", "--wait-ready=30s", uuid)
	out.typeIn(t, "\x03")
	checkCancelled(t, e, cmd, uuid, syscall.SIGINT)

	script := "trap 'echo caught-int' INT; echo armed; i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; echo done"
	cmd, out = onTerminal(t, e, "--interactive", "--uuid-file-save", e.dir+"/ctrl-c-i.uuid", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", script)
	uuid = waitUUIDFile(t, e.dir+"/ctrl-c-i.uuid")
	out.waitFor(t, "armed")
	out.typeIn(t, "\x03")
	out.waitFor(t, "caught-int")
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("an interactive shell that traps Ctrl-C: run exited %d (%s), want 0; output:\n%s", code, cmd.ProcessState, out.text())
	}
	checkResult(t, e.status(uuid), "success", "every app exited 0")
}

// terminal is the master side of a pseudo-terminal and what came out of it.
type terminal struct {
	master *os.File
	got    chan string
	seen   strings.Builder
}

// onTerminal starts `podctl run ARGS...` as the session leader of a new
// pseudo-terminal, in its foreground process group, as a login shell
// starts a command.
func onTerminal(t *testing.T, e *env, args ...string) (*exec.Cmd, *terminal) {
	t.Helper()
	// The size a terminal has when nothing set one.
	return onTerminalCmdSized(t, e.command(append([]string{"run"}, args...)...), 24, 80)
}

// typeIn writes s to the terminal as typed keys.
func (term *terminal) typeIn(t *testing.T, s string) {
	t.Helper()
	if _, err := term.master.WriteString(s); err != nil {
		t.Fatalf("typing %q: %v", s, err)
	}
}

// waitFor reads the terminal until it has shown s.
func (term *terminal) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(term.seen.String(), s) {
		select {
		case b, ok := <-term.got:
			if !ok {
				t.Fatalf("the terminal closed before showing %q:\n%s", s, term.seen.String())
			}
			term.seen.WriteString(b)
		case <-deadline:
			t.Fatalf("the terminal did not show %q in 60 s:\n%s", s, term.seen.String())
		}
	}
}

// text is what the terminal has shown so far.
func (term *terminal) text() string {
	for {
		select {
		case b, ok := <-term.got:
			if !ok {
				return term.seen.String()
			}
			term.seen.WriteString(b)
		default:
			return term.seen.String()
		}
	}
}

// waitUUIDFile waits until `--uuid-file-save FILE` has been written.
func waitUUIDFile(t *testing.T, path string) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pod UUID in %s after 60 s", path)
		}
	}
}

// TestPodHolderKilled kills what holds a pod while stage1 lives on: the
// native init, the systemd flavor's boot helper or its nspawn. stage1
// must record what happened, not "killed" as if it had died itself: run
// exits as the signal says, with one line naming what was killed.
func TestPodHolderKilled(t *testing.T) {
	holders := map[string][]string{"native": {"init"}, "systemd": {"boot helper", "systemd-nspawn"}}
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		for depth, holder := range holders[e.flavor] {
			var stderr strings.Builder
			cmd, uuid := e.startPodSaying(&stderr, "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
			pid := cmd.Process.Pid
			for i := 0; i <= depth; i++ {
				kids := childrenOf(pid)
				if len(kids) != 1 {
					t.Fatalf("process %d has children %v, want the pod's %s on the way", pid, kids, holder)
				}
				pid = kids[0]
			}
			dirs := e.podCgroups(uuid)
			syscall.Kill(pid, syscall.SIGKILL)
			cmd.Wait()
			want := "the pod's " + holder + " was killed by SIGKILL"
			if code := cmd.ProcessState.ExitCode(); code != 137 || !strings.HasPrefix(stderr.String(), "podctl: "+want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("after the %s was killed: run exited %d (%s), stderr %q; want 137 and one line %q", holder, code, cmd.ProcessState, stderr.String(), want)
			}
			checkResult(t, e.status(uuid), "killed", want)
			waitCgroupEmpty(t, dirs)
		}
	})
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var kids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			kids = append(kids, n)
		}
	}
	return kids
}
