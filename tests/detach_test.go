package tests

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ticker is an app that greets, then ticks five times a second until it
// is stopped: a pod whose output shows that it lives.
var ticker = []string{"example.com/busybox", "--exec", "/bin/sh", "--", "-c",
	"echo hello-detached; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"}

var uuidLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// runDetached runs `podctl run -d ARGS...`, which must return within
// 120 s, exit 0 and print the pod's UUID alone; the pod is stopped when
// the test ends.
func (e *env) runDetached(args ...string) string {
	e.t.Helper()
	r := e.podctlReturns(120*time.Second, append([]string{"run", "-d"}, args...)...)
	if r.code != 0 {
		e.t.Fatalf("run -d: %s", r)
	}
	uuid := strings.TrimSpace(r.stdout)
	if !uuidLine.MatchString(uuid) {
		e.t.Fatalf("run -d printed %q, want the pod's UUID alone: %s", r.stdout, r)
	}
	e.t.Cleanup(func() { e.podctl("stop", "--force", uuid) })
	return uuid
}

// podctlReturns is podctl, failing the test if the command has not
// ended (with its output's pipes closed) within limit: a detached pod
// must not hold its caller's streams.
func (e *env) podctlReturns(limit time.Duration, args ...string) result {
	e.t.Helper()
	r, ended := e.podctlWithin(limit, args...)
	if !ended {
		e.t.Fatalf("podctl %s has not returned after %s: %s", strings.Join(args, " "), limit, r)
	}
	return r
}

// logHas waits until the pod's log holds s, for 60 s at most.
func (e *env) logHas(uuid, s string) string {
	e.t.Helper()
	var r result
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r = e.podctl("logs", uuid); r.code == 0 && strings.Contains(r.stdout, s) {
			return r.stdout
		}
	}
	e.t.Fatalf("pod %s's log has no %q after 60 s: %s", uuid, s, r)
	return ""
}

// stillTicking checks that the ticker of pod uuid goes on: its log gets
// new ticks.
func (e *env) stillTicking(uuid string) {
	e.t.Helper()
	ticks := strings.Count(e.logHas(uuid, "tick-"), "tick-")
	e.logHas(uuid, fmt.Sprintf("tick-%d", ticks+2))
	if st := e.status(uuid).State; st != "running" {
		e.t.Fatalf("pod %s is %s, want running", uuid, st)
	}
}

// stopRecorded stops a detached pod and checks that its app's end is
// recorded, as for any pod stopped.
func (e *env) stopRecorded(uuid string) {
	e.t.Helper()
	e.must("stop", uuid)
	st := e.status(uuid)
	if st.State != "exited" || len(st.Apps) != 1 || st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 143 ||
		st.Result == nil || st.Result.Result != "cancelled" {
		e.t.Fatalf("pod %s after stop: want exited, app 143, result cancelled: %+v\n%s", uuid, st, e.must("status", uuid))
	}
}

// run -d returns with the UUID while the pod runs on, its output in its
// log; status, stop, rm and gc treat it as any pod.
func TestDetachRun(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		uuid := e.runDetached(ticker...)
		if st := e.status(uuid); st.State != "running" {
			t.Fatalf("pod %s just after run -d: %s, want running", uuid, st.State)
		}
		// Ready already: a wait of a millisecond is enough.
		if r := e.podctl("status", "--wait-ready=1ms", uuid); r.code != 0 {
			t.Fatalf("run -d returned before pod %s was ready: %s", uuid, r)
		}
		// Its stage1 keeps no folder of the caller's busy.
		if pid := e.status(uuid).Pid; pid == 0 {
			t.Fatalf("pod %s has no stage1 pid", uuid)
		} else if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != "/" {
			t.Fatalf("the detached stage1's working folder is %q (%v), want /", cwd, err)
		}
		e.logHas(uuid, "hello-detached")
		e.stillTicking(uuid)
		e.refused("is running", "rm", uuid)
		e.stopRecorded(uuid)

		// An app that ends by itself once the pod is ready: run -d has
		// returned 0, and its exit is recorded for wait and status.
		ends := e.runDetached("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "read x < /dev/null; sleep 0.5; exit 3")
		if r := e.podctl("wait", "--timeout=60s", ends); r.code != 0 || strings.TrimSpace(r.stdout) != "3" {
			t.Fatalf("wait for a detached pod whose app exits 3: %s", r)
		}
		if st := e.status(ends); st.State != "exited" || len(st.Apps) != 1 || st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 3 {
			t.Fatalf("pod %s after its app exited 3: %+v", ends, st)
		}
		e.must("gc", "--grace-period=0s")
		if ok, _ := e.podExists(uuid); ok {
			t.Fatalf("gc left the stopped pod %s", uuid)
		}
	})
}

func (e *env) podExists(uuid string) (bool, string) {
	r := e.podctl("status", uuid)
	return r.code == 0, r.stderr
}

// The caller of run -d can die half way, with its whole session and its
// terminal, and the pod still starts and lives on; so does a pod whose
// caller's terminal hangs up once it has returned.
func TestDetachOutlivesCallerSession(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		uuidFile := e.dir + "/killed-caller.uuid"
		caller, term := onTerminal(t, e, append([]string{"-d", "--uuid-file-save", uuidFile}, ticker...)...)
		uuid := waitUUIDFile(t, uuidFile)
		// The pod exists, its start goes on: kill the caller's process
		// group (its session: it leads both) and hang up its terminal.
		syscall.Kill(-caller.Process.Pid, syscall.SIGKILL)
		caller.Wait()
		term.master.Close()
		t.Cleanup(func() { e.podctl("stop", "--force", uuid) })
		e.must("status", "--wait-ready=60s", uuid)
		e.stillTicking(uuid)
		e.stopRecorded(uuid)

		uuidFile = e.dir + "/hung-up.uuid"
		caller, term = onTerminal(t, e, append([]string{"-d", "--uuid-file-save", uuidFile}, ticker...)...)
		if err := caller.Wait(); err != nil {
			t.Fatalf("run -d on a terminal: %v: %s", err, term.text())
		}
		uuid = waitUUIDFile(t, uuidFile)
		t.Cleanup(func() { e.podctl("stop", "--force", uuid) })
		term.waitFor(t, uuid)
		term.master.Close()
		e.stillTicking(uuid)
		e.stopRecorded(uuid)
	})
}

// A pod that fails to start fails run -d with the start's one line and
// code, as run would; what run -d refuses, it refuses before any pod.
func TestDetachStartFailure(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		r := e.podctlReturns(120*time.Second, "run", "-d", "example.com/busybox", "--exec", "/no/such/command")
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 254 || r.stdout != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "podctl: ") || !strings.Contains(lines[0], "/no/such/command") {
			t.Fatalf("run -d of an app that cannot start: want exit 254, no UUID and one line naming the command: %s", r)
		}
		// An app that forges podctl's errors on its stderr, and ends
		// before it is ready: the caller exits with the pod's code and
		// says so itself, never repeating what the app wrote.
		forge := "i=0; while [ $i -lt 200 ]; do echo 'podctl: forged' >&2; i=$((i+1)); done; exit 7"
		r = e.podctlReturns(120*time.Second, "run", "-d", "--ready=notify", "--uuid-file-save", e.dir+"/forger.uuid",
			"example.com/busybox", "--exec", "/bin/sh", "--", "-c", forge)
		lines = strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 7 || r.stdout != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "podctl: ") || strings.Contains(r.stderr, "forged") {
			t.Fatalf("run -d of an app that forges errors and exits 7 before it is ready: want exit 7 and podctl's own line: %s", r)
		}
		// logs gives each line back to its stream.
		if forger := waitUUIDFile(t, e.dir+"/forger.uuid"); !strings.Contains(e.podctl("logs", forger).stderr, "forged") {
			t.Fatalf("the forger wrote nothing, and proved nothing: %s", e.podctl("logs", forger))
		}
		for _, p := range e.list() {
			if p.State == "running" {
				t.Fatalf("pod %s still runs after its start failed", p.UUID)
			}
		}
		e.refused("does not exist", "run", "-d", "/no/such/image.aci")
		e.refused("--stdin", "run", "-d", "--stdin", "example.com/busybox")
		e.refused("one app", "run", "-d", "-i", "example.com/busybox", "---", "example.com/busybox", "--name", "two")
	})
}

// attach follows the output of a detached pod without a terminal, and
// leaves it running when interrupted.
func TestAttachFollowsOutput(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		uuid := e.runDetached(ticker...)
		cmd := e.command("attach", uuid)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		waitOutput(t, out, "hello-detached", "tick-3")
		cmd.Process.Signal(os.Interrupt)
		go io.Copy(io.Discard, out)
		if err := waitCmd(cmd, 60*time.Second); err != nil {
			t.Fatalf("attach after Ctrl-C: %v, want exit 0: %s", err, stderr.String())
		}
		e.stillTicking(uuid)
		e.stopRecorded(uuid)
		e.refused("attach reaches running pods", "attach", uuid)
	})
}

// attach connects to a detached interactive pod's terminal: it shows what
// the app showed before, passes what is typed, leaves on Ctrl-P Ctrl-Q
// with the pod running, and --no-stdin only watches.
func TestAttachInteractive(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		script := "echo prompt-ready; read x; echo got-$x; [ -t 0 ] && echo stdin-is-a-tty; echo size-$(stty size); " +
			"while read y; do echo size-$(stty size | tr ' ' x); done"
		uuid := e.runDetached("-i", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", script)
		attach, term := onTerminalCmdSized(t, e.command("attach", uuid), 30, 100)
		term.waitFor(t, "prompt-ready")
		term.typeIn(t, "hello\r")
		term.waitFor(t, "got-hello")
		term.waitFor(t, "stdin-is-a-tty")
		// The pod's terminal takes the size of attach's, and follows it.
		term.waitFor(t, "size-30 100")
		term.resize(t, 40, 120)
		term.typeUntil(t, "\r", "size-40x120")
		term.typeIn(t, "\x10\x11")
		if err := waitCmd(attach, 60*time.Second); err != nil {
			t.Fatalf("attach after the detach keys: %v, want exit 0: %s", err, term.text())
		}
		if st := e.status(uuid).State; st != "running" {
			t.Fatalf("pod %s after detaching: %s, want running", uuid, st)
		}

		watch, term := onTerminalCmdSized(t, e.command("attach", "--no-stdin", uuid), 0, 0)
		term.waitFor(t, "got-hello")
		term.typeIn(t, "ignored\r")
		watch.Process.Signal(os.Interrupt)
		if err := waitCmd(watch, 60*time.Second); err != nil {
			t.Fatalf("attach --no-stdin after Ctrl-C: %v, want exit 0: %s", err, term.text())
		}
		e.stopRecorded(uuid)
	})
}

// waitOutput reads r until it has shown every one of want, for 60 s at
// most.
func waitOutput(t *testing.T, r io.Reader, want ...string) {
	t.Helper()
	seen := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if containsAll(b.String(), want) {
				break
			}
		}
		seen <- b.String()
	}()
	select {
	case got := <-seen:
		if !containsAll(got, want) {
			t.Fatalf("the output ended without %q:\n%s", want, got)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no %q in the output after 60 s", want)
	}
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// waitCmd waits for cmd, killing it after limit.
func waitCmd(cmd *exec.Cmd, limit time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %s", limit)
	}
}

// resize gives the terminal a new size; the kernel tells its foreground
// process group with SIGWINCH.
func (term *terminal) resize(t *testing.T, rows, cols uint16) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(term.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
}

// typeUntil types keys until the terminal shows want, for 60 s at most:
// for what comes true at a time of its own, such as a new window size
// reaching the pod.
func (term *terminal) typeUntil(t *testing.T, keys, want string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(term.text(), want); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal did not show %q in 60 s:\n%s", want, term.text())
		}
		term.typeIn(t, keys)
	}
}

// onTerminalCmdSized starts cmd as the session leader of a new
// pseudo-terminal of rows×cols, as onTerminal starts run.
func onTerminalCmdSized(t *testing.T, cmd *exec.Cmd, rows, cols uint16) (*exec.Cmd, *terminal) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term := &terminal{master: master, got: make(chan string, 64)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				term.got <- string(buf[:n])
			}
			if err != nil {
				close(term.got)
				return
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, term
}

// An ordinary user's run -d returns too, and its pod lives on in the
// user's namespace until stopped.
func TestDetachRootless(t *testing.T) {
	t.Parallel()
	u := newRootlessUser(t, 0, rootlessBin(t))
	u.must("fetch", "--insecure-options=image", busyboxACI)
	done := make(chan result, 1)
	go func() { done <- u.podctl(append([]string{"run", "-d"}, ticker...)...) }()
	var r result
	select {
	case r = <-done:
	case <-time.After(120 * time.Second):
		t.Fatal("a rootless run -d has not returned after 120 s")
	}
	uuid := strings.TrimSpace(r.stdout)
	if r.code != 0 || !uuidLine.MatchString(uuid) {
		t.Fatalf("a rootless run -d: %s", r)
	}
	t.Cleanup(func() { u.podctl("stop", "--force", uuid) })
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(u.podctl("logs", uuid).stdout, "tick-3"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the rootless detached pod does not tick: %s", u.podctl("logs", uuid))
		}
	}
	u.must("stop", uuid)
	if st := u.must("status", uuid); !strings.Contains(st, "state=exited") || !strings.Contains(st, "app-busybox=143") {
		t.Fatalf("the rootless detached pod after stop:\n%s", st)
	}
}

// run-prepared -d runs a prepared pod detached, as run -d does, and
// refuses one that is not prepared in podctl's one line.
func TestDetachRunPrepared(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		uuid := lastLine(e.must(append([]string{"prepare", "--quiet"}, ticker...)...))
		r := e.podctlReturns(120*time.Second, "run-prepared", "-d", uuid)
		if r.code != 0 || strings.TrimSpace(r.stdout) != uuid {
			t.Fatalf("run-prepared -d %s: want exit 0 and the UUID: %s", uuid, r)
		}
		t.Cleanup(func() { e.podctl("stop", "--force", uuid) })
		e.stillTicking(uuid)
		e.refused("not prepared", "run-prepared", "-d", uuid)
		e.stopRecorded(uuid)
	})
}
