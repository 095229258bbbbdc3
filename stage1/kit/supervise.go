package kit

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/events"
	"podctl/internal/fsutil"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/logs"
)

// StopGrace is how long the apps left running get between SIGTERM and
// SIGKILL when the pod ends because one app failed or stage1 was signalled.
const StopGrace = 10 * time.Second

// Proc is a started app's main process, as Supervise sees it.
type Proc interface {
	// Pid is the process's pid, as the supervisor sees it.
	Pid() int
	// Signal sends sig to the process, if it has not ended.
	Signal(sig syscall.Signal) error
	// Wait blocks until the process has ended and says how it did.
	Wait() (syscall.WaitStatus, error)
}

// Starter starts app s with the given standard streams and returns its
// main process once the app's command is running.
type Starter func(s *AppSpec, stdio stage1.Stdio) (Proc, error)

// CmdProc is the Proc of an app started with os/exec (through
// StartWithErrPipe), which its parent waits for.
type CmdProc struct{ *exec.Cmd }

// Pid is the command's pid.
func (c CmdProc) Pid() int { return c.Process.Pid }

// Signal signals the command.
func (c CmdProc) Signal(sig syscall.Signal) error { return c.Process.Signal(sig) }

// Wait waits for the command to end.
func (c CmdProc) Wait() (syscall.WaitStatus, error) {
	err := c.Cmd.Wait()
	if c.ProcessState == nil {
		return 0, err
	}
	return c.ProcessState.Sys().(syscall.WaitStatus), nil
}

// Hooks let a flavor change what Supervise does at some moments, and
// say what it has to say.
type Hooks struct {
	// Prepare, if not nil, runs before the first app starts (its
	// pre-start handler included); an error is that app's failure to
	// start.
	Prepare func() error
	// Ready runs once every app has started. By default it writes the
	// pod's ready file and tells a service manager (NotifyReady).
	Ready func()
	// StartFailed runs when an app could not be started, with the one line
	// saying why. By default it is Warn.
	StartFailed func(err error)
	// Warn gets, as one line, what the supervisor has to say beside the
	// apps' output: that the kernel killed an app for memory, and what
	// it could not record or log. Stage1 prints it as "podctl: " and the
	// line. Log copiers call it too, so it must be safe for concurrent
	// use. If nil, nothing is said.
	Warn func(err error)
}

// Supervise runs a pod's apps to their end: it starts each app, records its
// pid, marks the pod ready, forwards SIGTERM, SIGINT and SIGHUP to the apps,
// records each app's exit status, restarts apps as rc.Task.Restart says,
// and when an app fails for good, or the pod's time is up, stops the
// others. What the apps write goes to the caller's stdout and stderr and
// to each app's log. When the last app has exited, cleanup runs (to end
// what the apps left behind, which may hold their output open), the logs
// are drained and the pod's result is recorded. It returns the pod's exit
// code: ExitTimeout if its time was up, else the code of the first app to
// fail for good, or 0. It is a Supervisor's Run.
func Supervise(rc *stage1.RunContext, specs []AppSpec, start Starter, cleanup func(), hooks Hooks) int {
	s := &Supervisor{RC: rc, Specs: specs, Start: start, Cleanup: cleanup, Hooks: hooks}
	return s.Run()
}

// Ending is how a pod's run ended, as its stage1 saw it.
type Ending struct {
	// StopReason is why stage1 stopped the apps it stopped, if it did:
	// lifecycle.ReasonTimeout or lifecycle.ReasonCancelled.
	StopReason string
	// Timeout is the pod's --timeout.
	Timeout time.Duration
	// CancelledBy is the signal that made stage1 stop the pod, if one did.
	CancelledBy syscall.Signal
	// Failure says which app failed for good and how, if one did.
	Failure string
	// Lost says what ended the pod before its apps were recorded, when
	// stage1 itself lives on: its init, or its nspawn, died. LostBy is
	// the signal that killed it, if one did.
	Lost   string
	LostBy syscall.Signal
}

// RecordResult records the pod's result (lifecycle.WriteResult) from how
// it ended and the exit code of its first app to fail, and returns the
// pod's exit code, saying through warn what it cannot record. This is the
// one exit status rule of every flavor: 128+N when what held the pod was
// killed by signal N (e.Lost), and ExitStartFailed if it ended otherwise;
// ExitTimeout when its time was up; 128+N when podctl run was stopped by
// signal N, as a shell reports a process that signal ended, whatever codes
// the stopped apps gave; else code.
func RecordResult(p *lifecycle.Pod, code int, e Ending, warn func(error)) int {
	res := podResult(code, e)
	if err := p.WriteResult(res); err != nil {
		warn(err)
	}
	recordEvent(p, events.Event{Type: events.Exited, ExitCode: res.ExitCode, Message: res.Result + ": " + res.Message}, warn)
	if err := p.Note(lifecycle.Exited.String(), nil); err != nil {
		warn(err)
	}
	return *res.ExitCode
}

// podResult is the pod's result by the rule RecordResult tells.
func podResult(code int, e Ending) *lifecycle.PodResult {
	res := &lifecycle.PodResult{Result: lifecycle.ResultSuccess, Message: "every app exited 0"}
	switch {
	case e.Lost != "" && e.LostBy != 0:
		code = 128 + int(e.LostBy)
		res.Result, res.Message = lifecycle.ResultKilled, e.Lost
	case e.Lost != "":
		code = stage1.ExitStartFailed
		res.Result, res.Message = lifecycle.ResultError, e.Lost
	case e.StopReason == lifecycle.ReasonTimeout:
		code = stage1.ExitTimeout
		res.Result, res.Message = lifecycle.ResultTimeout, fmt.Sprintf("the pod ran out of its time (--timeout=%s) and was stopped", e.Timeout)
	case e.CancelledBy != 0:
		code = 128 + int(e.CancelledBy)
		res.Result, res.Message = lifecycle.ResultCancelled, "podctl run got "+unix.SignalName(e.CancelledBy)+" and stopped the apps"
	case code != 0:
		res.Result, res.Message = lifecycle.ResultError, e.Failure
	}
	res.ExitCode = &code
	return res
}

// recordEvent records a pod event, giving warn what events.RecordForPod
// would print if it cannot.
func recordEvent(p *lifecycle.Pod, e events.Event, warn func(error)) {
	if err := p.AppendEvent(e); err != nil {
		warn(fmt.Errorf("warning: %w; the pod operation went on", err))
	}
}

// NotifyStop returns the channel of the signals that stop a pod: SIGTERM
// (podctl stop), SIGINT (Ctrl-C) and SIGHUP (a closed terminal). With
// interactive, SIGINT is not one: the app has the terminal, which sends
// Ctrl-C to it, and decides itself whether that ends it (a shell does
// not). The signal is still caught, so that it does not end stage1.
func NotifyStop(interactive bool) chan os.Signal {
	sigs := make(chan os.Signal, 4)
	if interactive {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	}
	return sigs
}

// ReleaseSignals stops relaying signals to c beside the caller's end
// rather than on its way: Go disables each signal through a round trip
// between two threads (0.4 ms at the end of a native pod), and the process
// usually exits meanwhile. One that comes before is caught and dropped.
func ReleaseSignals(c chan<- os.Signal) {
	go signal.Stop(c)
}

// FailureMessage is the pod's result message for app name, the first to
// fail for good, as it ended (st): for an app that did not start, why, as
// Supervisor.startFailed says it.
func FailureMessage(name string, st *lifecycle.AppStatus) string {
	if why, ok := strings.CutPrefix(st.Message, notStarted); ok && st.ExitCode == stage1.ExitStartFailed {
		return fmt.Sprintf("app %s did not start: %s", name, why)
	}
	m := fmt.Sprintf("app %s exited with %d", name, st.ExitCode)
	if st.Reason != "" && st.Reason != lifecycle.ReasonError && st.Reason != lifecycle.ReasonCancelled {
		m += " (" + st.Reason + ")"
	}
	return m
}

// notStarted begins the status message of an app that did not start.
const notStarted = "the app did not start: "

// EndNotice is the one line podctl run gives for an app's end that its
// own output cannot show, as an error, or nil: the kernel killed it for
// memory. Every flavor says it once, when the app ends.
func EndNotice(name string, st *lifecycle.AppStatus) error {
	if st.Reason == lifecycle.ReasonOOMKilled {
		return fmt.Errorf("app %s: %s", name, st.Message)
	}
	return nil
}

// Reason says why an app ended: st's own reason if it has one (OOMKilled);
// stage1's reason for stopping it if it did (stopped); Completed for 0;
// Killed for a signal stage1 did not send; Error otherwise.
func Reason(st *lifecycle.AppStatus, stopped bool, stopReason string) string {
	switch {
	case st.Reason != "":
		return st.Reason
	case st.ExitCode == 0:
		return lifecycle.ReasonCompleted
	case stopped && stopReason != "":
		return stopReason
	case st.Signal != "":
		return lifecycle.ReasonKilled
	}
	return lifecycle.ReasonError
}

// KeepOnClosedOutput makes a write to a stdout or stderr whose reader has
// gone (`podctl run … | head`) fail with EPIPE instead of killing this
// process, as Go does by default for descriptors 1 and 2; the log copiers
// then go on into the logs only. SIGPIPE is caught, not ignored: an
// ignored signal would stay ignored in the apps this process starts, a
// caught one is reset to its default when they exec.
func KeepOnClosedOutput() {
	// Nothing reads the channel: Notify drops what does not fit.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

// logApp makes the pipes an app writes its output to, and starts copying
// each to the caller's stream of the same name and to the app's log, once
// kept is closed if it is not nil (Supervisor.OutputKept). A copy that
// fails is said through warn.
func logApp(appDir string, copiers *sync.WaitGroup, kept <-chan struct{}, warn func(error)) (stdout, stderr *os.File, err error) {
	l, err := logs.Open(appDir)
	if err != nil {
		return nil, nil, err
	}
	var ends []*os.File
	var mine sync.WaitGroup
	for _, stream := range []struct {
		name string
		tee  *os.File
	}{{logs.Stdout, os.Stdout}, {logs.Stderr, os.Stderr}} {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range ends {
				f.Close()
			}
			l.Close()
			return nil, nil, fmt.Errorf("making output pipes: %w", err)
		}
		ends = append(ends, w)
		mine.Add(1)
		go func(name string, tee *os.File) {
			defer mine.Done()
			defer r.Close()
			if kept != nil {
				<-kept
			}
			if err := l.Copy(name, r, tee); err != nil {
				warn(fmt.Errorf("logging %s: %w", name, err))
			}
		}(stream.name, stream.tee)
	}
	copiers.Add(1)
	go func() {
		// The log file is closed once both copiers are done with it.
		mine.Wait()
		l.Close()
		copiers.Done()
	}()
	return ends[0], ends[1], nil
}

// exitStatus turns a wait result into an app status: the exit code, or
// 128+N and the signal's name when signal N ended the app.
func exitStatus(ws syscall.WaitStatus, err error) *lifecycle.AppStatus {
	switch {
	case err != nil:
		return &lifecycle.AppStatus{ExitCode: stage1.ExitStartFailed, Message: err.Error()}
	case ws.Signaled():
		return &lifecycle.AppStatus{ExitCode: 128 + int(ws.Signal()), Signal: unix.SignalName(ws.Signal())}
	default:
		return &lifecycle.AppStatus{ExitCode: ws.ExitStatus()}
	}
}

// MarkReady writes the pod's ready file: every app is ready.
func MarkReady(p *lifecycle.Pod) error {
	return p.WriteFile(lifecycle.FileReady, nil, false)
}

// writeNumber records a pid or a count. Atomic, not durable: neither
// means anything after a reboot.
func writeNumber(path string, n int) error {
	return fsutil.WriteFile(path, []byte(strconv.Itoa(n)), 0o600, false)
}

// WritePodPid records the stage1 process's pid in the pod; its mtime is the
// pod's start time.
func WritePodPid(p *lifecycle.Pod) error {
	return writeNumber(p.FilePath(lifecycle.FilePid), os.Getpid())
}
