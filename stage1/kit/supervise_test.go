package kit

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/appexec"
)

// deadline bounds every wait of these tests: generous, as it only matters
// when a test fails.
const deadline = 10 * time.Second

// fakeProc is an app that runs until the test ends it (exit) or a signal
// does: every signal but SIGKILL ends it unless ignoreTerm.
type fakeProc struct {
	name       string
	pid        int
	ignoreTerm bool
	end        chan syscall.WaitStatus
	signals    chan syscall.Signal
}

func (p *fakeProc) Pid() int { return p.pid }

func (p *fakeProc) Signal(sig syscall.Signal) error {
	select {
	case p.signals <- sig:
	default:
	}
	if sig == syscall.SIGKILL || !p.ignoreTerm {
		p.finish(syscall.WaitStatus(sig))
	}
	return nil
}

func (p *fakeProc) Wait() (syscall.WaitStatus, error) { return <-p.end, nil }

// exit ends the app with code.
func (p *fakeProc) exit(code int) { p.finish(syscall.WaitStatus(code << 8)) }

// finish ends the app with ws, unless it has ended.
func (p *fakeProc) finish(ws syscall.WaitStatus) {
	select {
	case p.end <- ws:
	default:
	}
}

// testPod is a pod of fake apps run by a Supervisor.
type testPod struct {
	t   *testing.T
	dir string
	sv  *Supervisor
	// sigs is unbuffered: a send returns once the supervisor has it.
	sigs       chan os.Signal
	started    chan *fakeProc
	readies    chan struct{}
	debug      chan string
	done       chan int
	failStart  map[string]error
	ignoreTerm map[string]bool

	mu       sync.Mutex
	warnings []string
}

func newTestPod(t *testing.T, task stage1.Task, names ...string) *testPod {
	// Three levels below the data directory, where the events go.
	dir := filepath.Join(t.TempDir(), "pods", "run", "8c7a0e2e-5c5c-4f5e-9d2a-1b0b7b7c0e11")
	p := &testPod{t: t, dir: dir, sigs: make(chan os.Signal), started: make(chan *fakeProc, 64),
		readies: make(chan struct{}, 8), debug: make(chan string, 64), done: make(chan int, 1),
		failStart: map[string]error{}, ignoreTerm: map[string]bool{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var specs []AppSpec
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, lifecycle.AppDir(n)), 0o700); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, AppSpec{Spec: appexec.Spec{Name: n}})
	}
	pod, err := lifecycle.OpenAt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pod.Close() })
	rc := &stage1.RunContext{Pod: pod, Task: task, Debugf: func(format string, _ ...any) {
		select {
		case p.debug <- format:
		default:
		}
	}}
	p.sv = &Supervisor{RC: rc, Specs: specs, Start: p.start, Signals: p.sigs, StopGrace: 50 * time.Millisecond, NoLogs: true,
		Hooks: Hooks{Ready: func() { p.readies <- struct{}{} }, Warn: p.warn}}
	return p
}

func (p *testPod) start(s *AppSpec, _ stage1.Stdio) (Proc, error) {
	if err := p.failStart[s.Name]; err != nil {
		return nil, err
	}
	fp := &fakeProc{name: s.Name, pid: 1000 + len(p.started), ignoreTerm: p.ignoreTerm[s.Name],
		end: make(chan syscall.WaitStatus, 1), signals: make(chan syscall.Signal, 8)}
	p.started <- fp
	return fp, nil
}

func (p *testPod) warn(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.warnings = append(p.warnings, err.Error())
}

func (p *testPod) run() { go func() { p.done <- p.sv.Run() }() }

// next waits for the next app started, which must be name.
func (p *testPod) next(name string) *fakeProc {
	p.t.Helper()
	select {
	case fp := <-p.started:
		if fp.name != name {
			p.t.Fatalf("started app %s, want %s", fp.name, name)
		}
		return fp
	case <-time.After(deadline):
		p.t.Fatalf("app %s was not started", name)
	}
	return nil
}

// signalled waits for the next signal fp gets.
func (p *testPod) signalled(fp *fakeProc) syscall.Signal {
	p.t.Helper()
	select {
	case sig := <-fp.signals:
		return sig
	case <-time.After(deadline):
		p.t.Fatalf("app %s got no signal", fp.name)
	}
	return 0
}

// waitDebug waits for the debug line that starts with prefix.
func (p *testPod) waitDebug(prefix string) {
	p.t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case f := <-p.debug:
			if strings.HasPrefix(f, prefix) {
				return
			}
		case <-timeout:
			p.t.Fatalf("no debug line %q", prefix)
		}
	}
}

// wait waits for Run's exit code, which must be want.
func (p *testPod) wait(want int) {
	p.t.Helper()
	select {
	case code := <-p.done:
		if code != want {
			p.t.Fatalf("exit code %d, want %d", code, want)
		}
	case <-time.After(deadline):
		p.t.Fatal("the pod did not end")
	}
}

// result checks the pod's recorded result.
func (p *testPod) result(result, message string, code int) {
	p.t.Helper()
	var r lifecycle.PodResult
	p.readJSON(lifecycle.FileResult, &r)
	if r.Result != result || r.Message != message || r.ExitCode == nil || *r.ExitCode != code {
		p.t.Fatalf("result %+v, want %s %q %d", r, result, message, code)
	}
}

// status returns app's recorded status.
func (p *testPod) status(app string) *lifecycle.AppStatus {
	p.t.Helper()
	var st lifecycle.AppStatus
	p.readJSON(lifecycle.AppStatusFile(app), &st)
	return &st
}

func (p *testPod) readJSON(name string, v any) {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		p.t.Fatal(err)
	}
}

func (p *testPod) checkReadies(want int) {
	p.t.Helper()
	if n := len(p.readies); n != want {
		p.t.Errorf("ready announced %d times, want %d", n, want)
	}
}

func (p *testPod) checkNoWarnings() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.warnings) > 0 {
		p.t.Errorf("warnings: %q", p.warnings)
	}
}

func checkStatus(t *testing.T, st *lifecycle.AppStatus, code int, reason string) {
	t.Helper()
	if st.ExitCode != code || st.Reason != reason {
		t.Errorf("status %+v, want code %d reason %s", st, code, reason)
	}
}

func TestSuperviseSuccess(t *testing.T) {
	p := newTestPod(t, stage1.Task{}, "a", "b")
	p.sv.NoLogs = false
	p.run()
	a, b := p.next("a"), p.next("b")
	a.exit(0)
	b.exit(0)
	p.wait(0)
	p.result(lifecycle.ResultSuccess, "every app exited 0", 0)
	checkStatus(t, p.status("a"), 0, lifecycle.ReasonCompleted)
	checkStatus(t, p.status("b"), 0, lifecycle.ReasonCompleted)
	p.checkReadies(1)
	p.checkNoWarnings()
	for _, app := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(p.dir, lifecycle.AppDir(app), lifecycle.AppPid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pid file of app %s left: %v", app, err)
		}
		if _, err := os.Stat(filepath.Join(p.dir, lifecycle.AppDir(app), lifecycle.AppLog)); err != nil {
			t.Errorf("log of app %s: %v", app, err)
		}
	}
	h, err := os.ReadFile(filepath.Join(p.dir, lifecycle.FileHistory))
	if err != nil || !strings.Contains(string(h), " ready\n") || !strings.HasSuffix(string(h), " "+lifecycle.Exited.String()+"\n") {
		t.Errorf("history %q, %v", h, err)
	}
}

func TestSuperviseFailureStopsTheOthers(t *testing.T) {
	p := newTestPod(t, stage1.Task{}, "a", "b", "c")
	p.run()
	a, b, c := p.next("a"), p.next("b"), p.next("c")
	b.exit(3)
	for _, fp := range []*fakeProc{a, c} {
		if sig := p.signalled(fp); sig != syscall.SIGTERM {
			t.Errorf("app %s got %v, want SIGTERM", fp.name, sig)
		}
	}
	p.wait(3)
	p.result(lifecycle.ResultError, "app b exited with 3", 3)
	checkStatus(t, p.status("b"), 3, lifecycle.ReasonError)
	checkStatus(t, p.status("a"), 128+int(syscall.SIGTERM), lifecycle.ReasonCancelled)
	if st := p.status("c"); st.Signal != "SIGTERM" {
		t.Errorf("status of c %+v, want signal SIGTERM", st)
	}
}

func TestSuperviseKillsAfterGrace(t *testing.T) {
	p := newTestPod(t, stage1.Task{}, "a", "b")
	p.ignoreTerm["b"] = true
	p.run()
	a, b := p.next("a"), p.next("b")
	a.exit(3)
	if sig := p.signalled(b); sig != syscall.SIGTERM {
		t.Fatalf("app b got %v, want SIGTERM", sig)
	}
	if sig := p.signalled(b); sig != syscall.SIGKILL {
		t.Fatalf("app b got %v, want SIGKILL", sig)
	}
	p.wait(3)
	p.result(lifecycle.ResultError, "app a exited with 3", 3)
	checkStatus(t, p.status("b"), 128+int(syscall.SIGKILL), lifecycle.ReasonCancelled)
}

func TestSuperviseRestartsOnFailure(t *testing.T) {
	task := stage1.Task{Restart: stage1.RestartPolicy{Mode: stage1.RestartOnFailure, Max: 2, Backoff: time.Millisecond}}
	p := newTestPod(t, task, "a")
	p.run()
	for range 3 {
		p.next("a").exit(1)
	}
	p.wait(1)
	p.result(lifecycle.ResultError, "app a exited with 1", 1)
	if st := p.status("a"); st.RestartCount != 2 || st.ExitCode != 1 {
		t.Errorf("status %+v, want 2 restarts", st)
	}
	if b, err := os.ReadFile(filepath.Join(p.dir, lifecycle.AppRestartsFile("a"))); err != nil || string(b) != "2" {
		t.Errorf("restarts file %q, %v", b, err)
	}
	if len(p.started) != 0 {
		t.Errorf("app started %d more times", len(p.started))
	}
	p.checkReadies(1)
	p.checkNoWarnings()
}

func TestSuperviseSignalStopsRestarts(t *testing.T) {
	task := stage1.Task{Restart: stage1.RestartPolicy{Mode: stage1.RestartAlways, Backoff: time.Millisecond}}
	p := newTestPod(t, task, "a")
	p.run()
	a := p.next("a")
	p.sigs <- syscall.SIGINT
	if sig := p.signalled(a); sig != syscall.SIGTERM {
		t.Fatalf("app a got %v, want SIGTERM", sig)
	}
	p.wait(130)
	p.result(lifecycle.ResultCancelled, "podctl run got SIGINT and stopped the apps", 130)
	checkStatus(t, p.status("a"), 128+int(syscall.SIGTERM), lifecycle.ReasonCancelled)
	if len(p.started) != 0 {
		t.Errorf("app restarted after the signal")
	}
}

func TestSuperviseSignalCancelsPendingRestart(t *testing.T) {
	task := stage1.Task{Restart: stage1.RestartPolicy{Mode: stage1.RestartAlways, Backoff: time.Hour}}
	p := newTestPod(t, task, "a")
	p.run()
	p.next("a").exit(0)
	p.waitDebug("restarting app")
	p.sigs <- syscall.SIGTERM
	p.wait(143)
	p.result(lifecycle.ResultCancelled, "podctl run got SIGTERM and stopped the apps", 143)
	if len(p.started) != 0 {
		t.Errorf("app restarted after the signal")
	}
}

func TestSuperviseSIGHUP(t *testing.T) {
	p := newTestPod(t, stage1.Task{}, "a", "b")
	p.run()
	a, b := p.next("a"), p.next("b")
	p.sigs <- syscall.SIGHUP
	p.signalled(a)
	p.signalled(b)
	p.wait(129)
	p.result(lifecycle.ResultCancelled, "podctl run got SIGHUP and stopped the apps", 129)
}

func TestSuperviseTimeout(t *testing.T) {
	p := newTestPod(t, stage1.Task{Timeout: 20 * time.Millisecond}, "a", "b")
	p.run()
	a, b := p.next("a"), p.next("b")
	p.signalled(a)
	p.signalled(b)
	p.wait(stage1.ExitTimeout)
	p.result(lifecycle.ResultTimeout, "the pod ran out of its time (--timeout=20ms) and was stopped", stage1.ExitTimeout)
	checkStatus(t, p.status("a"), 128+int(syscall.SIGTERM), lifecycle.ReasonTimeout)
	checkStatus(t, p.status("b"), 128+int(syscall.SIGTERM), lifecycle.ReasonTimeout)
}

func TestSuperviseStartFailure(t *testing.T) {
	p := newTestPod(t, stage1.Task{}, "a", "b", "c")
	p.failStart["b"] = errors.New("no such program")
	p.run()
	a := p.next("a")
	if sig := p.signalled(a); sig != syscall.SIGTERM {
		t.Fatalf("app a got %v, want SIGTERM", sig)
	}
	p.wait(stage1.ExitStartFailed)
	p.result(lifecycle.ResultError, "app b did not start: no such program", stage1.ExitStartFailed)
	st := p.status("b")
	if st.ExitCode != stage1.ExitStartFailed || st.Message != "the app did not start: no such program" {
		t.Errorf("status of b %+v", st)
	}
	if len(p.started) != 0 {
		t.Errorf("app c started")
	}
	p.checkReadies(0)
	// StartFailed defaults to Warn.
	if len(p.warnings) != 1 || p.warnings[0] != "no such program" {
		t.Errorf("warnings %q", p.warnings)
	}
}

// Prepare runs once, before any app starts; its failure is the first
// app's failure to start, and no app starts.
func TestSupervisePrepare(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		p := newTestPod(t, stage1.Task{}, "a", "b")
		prepared := 0
		p.sv.Hooks.Prepare = func() error {
			if len(p.started) != 0 {
				t.Error("an app started before Prepare")
			}
			prepared++
			return nil
		}
		p.run()
		a, b := p.next("a"), p.next("b")
		a.exit(0)
		b.exit(0)
		p.wait(0)
		if prepared != 1 {
			t.Errorf("Prepare ran %d times, want once", prepared)
		}
	})
	t.Run("fails", func(t *testing.T) {
		p := newTestPod(t, stage1.Task{}, "a", "b")
		p.sv.Hooks.Prepare = func() error { return errors.New("waiting for the apps' cgroups: EOF") }
		p.run()
		p.wait(stage1.ExitStartFailed)
		p.result(lifecycle.ResultError, "app a did not start: waiting for the apps' cgroups: EOF", stage1.ExitStartFailed)
		if st := p.status("a"); st.ExitCode != stage1.ExitStartFailed {
			t.Errorf("status of a %+v", st)
		}
		if len(p.started) != 0 {
			t.Errorf("%d apps started", len(p.started))
		}
		p.checkReadies(0)
	})
}

func TestSuperviseInteractiveSIGINT(t *testing.T) {
	p := newTestPod(t, stage1.Task{}, "a")
	p.sv.RC.Interactive = true
	p.run()
	a := p.next("a")
	// Unbuffered: the supervisor has it when the send returns.
	p.sigs <- syscall.SIGINT
	a.exit(0)
	p.wait(0)
	if len(a.signals) != 0 {
		t.Errorf("app got %v", <-a.signals)
	}
	p.result(lifecycle.ResultSuccess, "every app exited 0", 0)
}

func TestSuperviseOOMWarning(t *testing.T) {
	p := newTestPod(t, stage1.Task{}, "a")
	limits := t.TempDir()
	if err := os.WriteFile(filepath.Join(limits, "memory.events"), []byte("oom 1\noom_kill 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.sv.Specs[0].LimitDirs = []string{limits}
	p.run()
	p.next("a").finish(syscall.WaitStatus(syscall.SIGKILL))
	p.wait(137)
	p.result(lifecycle.ResultError, "app a exited with 137 (OOMKilled)", 137)
	// The caller prints it as "podctl: " and the line.
	if len(p.warnings) != 1 || p.warnings[0] != "app a: killed by the kernel for lack of memory" {
		t.Errorf("warnings %q", p.warnings)
	}
}

// A stop that comes after a restart's timer has fired, but before the
// supervisor has taken the restart, cancels it all the same.
func TestSuperviseStopCancelsFiredRestart(t *testing.T) {
	task := stage1.Task{Restart: stage1.RestartPolicy{Mode: stage1.RestartAlways, Backoff: time.Millisecond}}
	p := newTestPod(t, task, "a")
	s := p.sv
	s.setUp()
	fired := make(chan struct{})
	s.timers[0] = time.AfterFunc(0, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(deadline):
		t.Fatal("the timer did not fire")
	}
	s.stop(lifecycle.ReasonCancelled, syscall.SIGTERM)
	s.onRestart(0)
	if len(p.started) != 0 || len(s.timers) != 0 {
		t.Errorf("app restarted after the stop (%d started, %d timers)", len(p.started), len(s.timers))
	}
}

// TestLogAppWaitsForKept gives logApp an output-kept channel not yet
// closed: the app's output waits in its pipe, copied neither to the
// caller's stdout nor to the log, until the channel closes
// (Supervisor.OutputKept).
func TestLogAppWaitsForKept(t *testing.T) {
	out, tee, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	saved := os.Stdout
	os.Stdout = tee
	defer func() { os.Stdout = saved }()
	dir := t.TempDir()
	kept := make(chan struct{})
	var copiers sync.WaitGroup
	stdout, stderr, err := logApp(dir, &copiers, kept, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = saved
	if _, err := stdout.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	// The app has ended: copiers that did not wait would be done at once.
	stdout.Close()
	stderr.Close()
	done := make(chan struct{})
	go func() { copiers.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("the app's output was copied before the output was kept")
	case <-time.After(200 * time.Millisecond):
	}
	close(kept)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the app's output was not copied 30 s after the output was kept")
	}
	tee.Close()
	b, err := io.ReadAll(out)
	if err != nil || string(b) != "hello\n" {
		t.Fatalf("the caller's stdout got %q (%v), want the app's line", b, err)
	}
}

// TestReleaseSignals: a channel given to ReleaseSignals stops getting the
// signals it was told of, soon, while another still gets them.
func TestReleaseSignals(t *testing.T) {
	c, keep := make(chan os.Signal, 8), make(chan os.Signal, 8)
	signal.Notify(c, syscall.SIGUSR1)
	signal.Notify(keep, syscall.SIGUSR1)
	defer signal.Stop(keep)
	ReleaseSignals(c)
	for end := time.Now().Add(deadline); ; {
		// Two signals: the first one's delivery to every channel is done
		// once the second reaches keep.
		for i := 0; i < 2; i++ {
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
			select {
			case <-keep:
			case <-time.After(deadline):
				t.Fatal("SIGUSR1 never reached the channel that keeps it")
			}
		}
		got := len(c)
		for len(c) > 0 {
			<-c
		}
		if got == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("the released channel still gets SIGUSR1 after %v", deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
