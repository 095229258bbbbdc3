package kit

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/events"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
)

// Supervisor runs a pod's apps to their end, as Supervise says. Its
// exported fields are what the caller gives it, read by Run, which is
// called once. The rest is the state of the run: only Run's goroutine
// touches it; the apps' waiters, the restart timers and the notify
// sockets reach it through channels.
type Supervisor struct {
	RC    *stage1.RunContext
	Specs []AppSpec
	Start Starter
	// Cleanup, if not nil, runs once the last app has exited, before the
	// logs are drained.
	Cleanup func()
	Hooks   Hooks
	// Signals, if not nil, are the signals that stop the pod, in place of
	// those NotifyStop catches.
	Signals <-chan os.Signal
	// OutputKept, if not nil, is closed once the caller has made this
	// process outlive its output's readers (KeepOnClosedOutput), which it
	// does beside its own start: the apps' output is copied to this
	// process's stdout and stderr from then on. If nil, Run does it
	// first.
	OutputKept <-chan struct{}
	// StopGrace is the apps' time between SIGTERM and SIGKILL; zero means
	// the constant StopGrace.
	StopGrace time.Duration
	// NoLogs gives the apps no output pipes and the pod no logs: for a
	// Starter that ignores its streams.
	NoLogs bool
	// Mutable keeps the pod up with no app running until it is stopped,
	// takes app verbs on Control (mutable.go), and lets no app's failure
	// end the pod.
	Mutable bool
	Control <-chan AppRequest

	pod       *lifecycle.Pod
	sigs      <-chan os.Signal
	apps      []appRun
	ready     []bool
	announced bool
	readyCh   chan int
	exits     chan appExit
	restarts  chan int
	// timers are the restarts waiting for their delay, by app index.
	timers  map[int]*time.Timer
	running int
	// failed is set by the first app to fail for good (or not to start):
	// code and failure are its.
	failed  bool
	code    int
	failure string
	// cancelledBy is the signal that stopped the pod, if one did.
	cancelledBy syscall.Signal
	// stopReason is why stage1 is stopping the apps it stops: an app's
	// failure or a signal (ReasonCancelled), or the pod's time
	// (ReasonTimeout). Once set, no app is restarted.
	stopReason    string
	kill, timeout <-chan time.Time
	copiers       sync.WaitGroup
	notifiers     []io.Closer
	// appKills are the SIGKILLs due to apps stopped with app stop.
	appKills chan appGen
}

type appExit struct {
	index  int
	status syscall.WaitStatus
	err    error
}

// appRun is the Supervisor's record of one app.
type appRun struct {
	proc     Proc
	started  time.Time
	restarts int
	running  bool
	// stopped is set when stage1 signalled the app to end it.
	stopped bool
	// Of a mutable pod's apps: userStopped is set when app stop or app
	// rm ended the app, removed once app rm has; gen counts its starts;
	// waiters get nil once the app has ended.
	userStopped, removed bool
	removeOnExit         bool
	gen                  int
	waiters              []chan<- error
}

// Run starts the apps, supervises them until the last has exited and
// returns the pod's exit code (see Supervise).
func (s *Supervisor) Run() int {
	s.setUp()
	// The caller's stdout and stderr may be this process's own (native's
	// init): their reader going away must not end the pod. Go enables a
	// signal through a round trip between two threads, which a caller
	// with one P takes beside its start rather than here (OutputKept).
	if s.OutputKept == nil {
		KeepOnClosedOutput()
	}
	if s.sigs == nil {
		sigs := NotifyStop(s.RC.Interactive)
		defer ReleaseSignals(sigs)
		s.sigs = sigs
	}
	defer s.closeNotifiers()
	s.startAll()
	s.announce()
	if s.failed {
		s.stop(lifecycle.ReasonCancelled, syscall.SIGTERM)
	}
	if s.RC.Task.Timeout > 0 {
		start := time.Now()
		if len(s.apps) > 0 {
			start = s.apps[0].started
		}
		s.timeout = time.After(s.RC.Task.Timeout - time.Since(start))
	}
	for s.running > 0 || len(s.timers) > 0 || (s.Mutable && s.stopReason == "") {
		s.step()
	}
	return s.finish()
}

// setUp fills in the defaults and makes the run's state.
func (s *Supervisor) setUp() {
	s.pod = s.RC.Pod
	if s.Hooks.Warn == nil {
		s.Hooks.Warn = func(error) {}
	}
	if s.Hooks.Ready == nil {
		s.Hooks.Ready = func() {
			s.warnIf(MarkReady(s.pod))
			NotifyReady(s.Hooks.Warn)
		}
	}
	if s.Hooks.StartFailed == nil {
		s.Hooks.StartFailed = s.Hooks.Warn
	}
	if s.StopGrace == 0 {
		s.StopGrace = StopGrace
	}
	n := len(s.Specs)
	s.apps, s.ready = make([]appRun, n), make([]bool, n)
	s.readyCh, s.exits, s.restarts = make(chan int, n), make(chan appExit, n), make(chan int, n)
	s.timers = map[int]*time.Timer{}
	s.sigs = s.Signals
	s.appKills = make(chan appGen, 1)
}

// startAll starts the apps in order, each after its notify socket when
// the pod is ready on notify. The first that cannot start ends the
// starting.
func (s *Supervisor) startAll() {
	if s.Hooks.Prepare != nil && len(s.Specs) > 0 {
		if err := s.Hooks.Prepare(); err != nil {
			s.startFailed(0, err)
			return
		}
	}
	for i := range s.Specs {
		if s.RC.Task.ReadyNotify {
			c, err := ListenNotify(s.pod, &s.Specs[i], i, s.readyCh)
			if err != nil {
				s.startFailed(i, err)
				return
			}
			s.notifiers = append(s.notifiers, c)
		}
		if err := s.launch(i); err != nil {
			s.startFailed(i, err)
			return
		}
		s.ready[i] = !s.RC.Task.ReadyNotify
	}
}

func (s *Supervisor) closeNotifiers() {
	for _, c := range s.notifiers {
		c.Close()
	}
}

// launch starts app i, after its pre-start handler, records its pid and
// waits for it in a goroutine of its own, which runs its post-stop handler
// and reports its end on s.exits.
func (s *Supervisor) launch(i int) error {
	spec, a := &s.Specs[i], &s.apps[i]
	a.started = time.Now()
	if err := s.runHandler(i, PreStart); err != nil {
		// Its post-stop cleans up after the attempt, as systemd runs
		// ExecStopPost after a failed ExecStartPre.
		s.warnIf(s.runHandler(i, PostStop))
		return err
	}
	stdio, release, err := s.stdio(i)
	if err != nil {
		return err
	}
	proc, err := s.Start(spec, stdio)
	release()
	if err != nil {
		return err
	}
	a.proc, a.running, a.stopped, a.userStopped = proc, true, false, false
	a.gen++
	s.running++
	s.RC.Debugf("app %s started as pid %d", spec.Name, proc.Pid())
	s.warnIf(writeNumber(s.pod.FilePath(lifecycle.AppFile(spec.Name, lifecycle.AppPid)), proc.Pid()))
	go func() {
		ws, err := proc.Wait()
		// The app's end is recorded once its post-stop handler is done,
		// so that the pod does not end under it. A failing one is said,
		// and fails nothing: the app has ended already.
		s.warnIf(s.runHandler(i, PostStop))
		s.exits <- appExit{index: i, status: ws, err: err}
	}()
	return nil
}

// stdio gives app i its standard streams: the terminal when the pod is
// interactive; else pipes copied to the caller's streams and the app's
// log (unless NoLogs), and stage1's stdin for the first app with
// Task.Stdin. release closes stage1's ends of the pipes once the app has
// its own: they would keep the logs from ending.
func (s *Supervisor) stdio(i int) (stdio stage1.Stdio, release func(), err error) {
	if s.RC.Interactive {
		// The terminal is the app's: nothing goes through the logs.
		return stage1.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, func() {}, nil
	}
	release = func() {}
	if !s.NoLogs {
		stdout, stderr, err := logApp(s.pod.FilePath(lifecycle.AppDir(s.Specs[i].Name)), &s.copiers, s.OutputKept, s.Hooks.Warn)
		if err != nil {
			return stdio, nil, err
		}
		stdio.Stdout, stdio.Stderr = stdout, stderr
		release = func() {
			stdout.Close()
			stderr.Close()
		}
	}
	if s.RC.Task.Stdin && i == 0 {
		stdio.Stdin = os.Stdin
	}
	return stdio, release, nil
}

// startFailed records that app i could not start, which fails the pod if
// nothing failed it before.
func (s *Supervisor) startFailed(i int, err error) {
	s.Hooks.StartFailed(err)
	a, name := &s.apps[i], s.Specs[i].Name
	s.recordStatus(name, &lifecycle.AppStatus{ExitCode: stage1.ExitStartFailed, Reason: lifecycle.ReasonError,
		Message: "the app did not start: " + err.Error(), StartedAt: a.started, FinishedAt: time.Now(), RestartCount: a.restarts})
	s.fail(stage1.ExitStartFailed, fmt.Sprintf("app %s did not start: %v", name, err))
}

// fail records the pod's failure, with code and message, unless it has
// one: it says whether this was the first.
func (s *Supervisor) fail(code int, failure string) bool {
	if s.failed {
		return false
	}
	s.failed, s.code, s.failure = true, code, failure
	return true
}

// announce marks the pod ready, once, when every app is: started, or with
// ReadyNotify, once it has said READY=1. A failed pod is never ready.
func (s *Supervisor) announce() {
	if s.announced || s.failed || slices.Contains(s.ready, false) {
		return
	}
	s.announced = true
	s.Hooks.Ready()
	s.event(events.Event{Type: events.Ready})
	s.note("ready")
}

// step waits for the next thing to happen and handles it.
func (s *Supervisor) step() {
	select {
	case e := <-s.exits:
		s.onExit(e)
	case i := <-s.readyCh:
		s.onReady(i)
	case i := <-s.restarts:
		s.onRestart(i)
	case sig := <-s.sigs:
		s.onSignal(sig)
	case <-s.timeout:
		s.onTimeout()
	case <-s.kill:
		s.stop(s.stopReason, syscall.SIGKILL)
	case r := <-s.Control:
		s.onRequest(r)
	case k := <-s.appKills:
		s.onAppKill(k)
	}
}

// onExit records an app's end, then restarts it as Task.Restart says,
// or, when it failed for good and is the first to, stops the others.
func (s *Supervisor) onExit(e appExit) {
	trace.Mark("app exited")
	s.running--
	a := &s.apps[e.index]
	a.running = false
	st := s.recordExit(e)
	if s.ended(a) {
		// Stopped by app stop or app rm, it is neither restarted nor
		// the pod's failure.
		return
	}
	if s.stopReason == "" && s.RC.Task.Restart.Restarts(st.ExitCode, a.restarts) {
		s.scheduleRestart(e.index)
		return
	}
	if s.Mutable {
		// A mutable pod outlives its apps' failures: each has its status.
		return
	}
	if st.ExitCode != 0 && s.fail(st.ExitCode, FailureMessage(s.Specs[e.index].Name, st)) {
		s.stop(lifecycle.ReasonCancelled, syscall.SIGTERM)
	}
}

// recordExit records how app e.index ended: its status, its exit event,
// and a word when the kernel killed it for memory. It returns the status.
func (s *Supervisor) recordExit(e appExit) *lifecycle.AppStatus {
	a, spec := &s.apps[e.index], &s.Specs[e.index]
	st := exitStatus(e.status, e.err)
	NoteOOM(st, spec)
	s.warnIf(EndNotice(spec.Name, st))
	st.StartedAt, st.FinishedAt, st.RestartCount = a.started, time.Now(), a.restarts
	reason := s.stopReason
	if a.userStopped && reason == "" {
		reason = lifecycle.ReasonStopped
	}
	st.Reason = Reason(st, a.stopped, reason)
	// The pid is no longer the app's: enter must not find it.
	os.Remove(s.pod.FilePath(lifecycle.AppFile(spec.Name, lifecycle.AppPid)))
	s.recordStatus(spec.Name, st)
	s.event(events.Event{Type: events.Exited, App: spec.Name, ExitCode: &st.ExitCode, Message: st.Reason})
	s.RC.Debugf("app %s exited with status %d", spec.Name, st.ExitCode)
	return st
}

// scheduleRestart starts app i again after its back-off (onRestart).
func (s *Supervisor) scheduleRestart(i int) {
	d := s.RC.Task.Restart.Delay(s.apps[i].restarts)
	s.RC.Debugf("restarting app %s in %s", s.Specs[i].Name, d)
	s.timers[i] = time.AfterFunc(d, func() { s.restarts <- i })
}

// onRestart restarts app i once its back-off is over, counting the
// restart; an app that cannot start again fails the pod.
func (s *Supervisor) onRestart(i int) {
	if _, ok := s.timers[i]; !ok {
		// Cancelled by a stop after its timer had fired.
		return
	}
	delete(s.timers, i)
	a, name := &s.apps[i], s.Specs[i].Name
	a.restarts++
	s.warnIf(writeNumber(s.pod.FilePath(lifecycle.AppRestartsFile(name)), a.restarts))
	if err := s.launch(i); err != nil {
		s.startFailed(i, err)
		s.stop(lifecycle.ReasonCancelled, syscall.SIGTERM)
		return
	}
	s.event(events.Event{Type: events.Restarted, App: name, Message: fmt.Sprintf("restart %d", a.restarts)})
}

// onReady notes that app i said READY=1.
func (s *Supervisor) onReady(i int) {
	s.ready[i] = true
	s.announce()
}

// onSignal stops the pod for a signal: whatever stopped podctl run, the
// apps get what podctl stop and the systemd flavor give them. The first
// signal, if it came before any other reason to stop, is the pod's
// result. With Interactive, SIGINT is the app's (see NotifyStop), not
// stage1's.
func (s *Supervisor) onSignal(sig os.Signal) {
	ss := sig.(syscall.Signal)
	if s.RC.Interactive && ss == syscall.SIGINT {
		return
	}
	s.RC.Debugf("got %s: stopping the apps", unix.SignalName(ss))
	if s.cancelledBy == 0 && s.stopReason == "" {
		s.cancelledBy = ss
	}
	s.stop(lifecycle.ReasonCancelled, syscall.SIGTERM)
}

// onTimeout stops the pod when its time is up.
func (s *Supervisor) onTimeout() {
	s.RC.Debugf("the pod's time is up: stopping the apps")
	s.stop(lifecycle.ReasonTimeout, syscall.SIGTERM)
}

// stop sends sig to every running app, for reason (kept if the pod had
// none yet), and cancels the restarts not yet due. After SIGTERM, the
// apps left get SIGKILL when StopGrace is over.
func (s *Supervisor) stop(reason string, sig syscall.Signal) {
	if s.stopReason == "" {
		s.stopReason = reason
	}
	for i, t := range s.timers {
		// A restart not yet made is not made, even if its timer has
		// fired: onRestart skips an app with no timer.
		t.Stop()
		delete(s.timers, i)
	}
	for i := range s.apps {
		if a := &s.apps[i]; a.running {
			a.stopped = true
			a.proc.Signal(sig)
		}
	}
	if s.kill == nil && sig != syscall.SIGKILL {
		s.kill = time.After(s.StopGrace)
	}
}

// finish runs once the last app has exited: the cleanup, then the logs
// drained, then the pod's result recorded. It returns the pod's exit code.
func (s *Supervisor) finish() int {
	if s.Cleanup != nil {
		s.Cleanup()
	}
	s.copiers.Wait()
	trace.Mark("apps done")
	e := Ending{StopReason: s.stopReason, Timeout: s.RC.Task.Timeout, CancelledBy: s.cancelledBy, Failure: s.failure}
	return RecordResult(s.pod, s.code, e, s.Hooks.Warn)
}

// recordStatus records an app's status, warning if it cannot.
func (s *Supervisor) recordStatus(app string, st *lifecycle.AppStatus) {
	s.warnIf(s.pod.WriteAppStatus(app, st))
}

// event records a pod event, warning if it cannot.
func (s *Supervisor) event(e events.Event) { recordEvent(s.pod, e, s.Hooks.Warn) }

// note adds a state to the pod's history, warning if it cannot.
func (s *Supervisor) note(state string) { s.warnIf(s.pod.Note(state, nil)) }

func (s *Supervisor) warnIf(err error) {
	if err != nil {
		s.Hooks.Warn(err)
	}
}
