package stage1

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1/logs"
)

// StopGrace is how long the apps left running get between SIGTERM and
// SIGKILL when the pod ends because one app failed or stage1 was signalled.
const StopGrace = 10 * time.Second

// ExitStartFailed is the pod's exit code when an app could not be started:
// podctl's own failure, not an app's.
const ExitStartFailed = 254

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
type Starter func(s *AppSpec, stdio Stdio) (Proc, error)

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

// Hooks let a flavor change what Supervise does at two moments.
type Hooks struct {
	// Ready runs once every app has started. By default it writes the
	// pod's ready file and tells a service manager (NotifyReady).
	Ready func()
	// StartFailed runs when an app could not be started, with the one line
	// saying why. By default the line goes to stderr.
	StartFailed func(err error)
}

type appExit struct {
	index  int
	status syscall.WaitStatus
	err    error
}

// Supervise runs a pod's apps to their end: it starts each app, records its
// pid, marks the pod ready, forwards SIGTERM, SIGINT and SIGHUP to the apps,
// records each app's exit status, and when an app fails stops the others.
// What the apps write goes to the caller's stdout and stderr and to each
// app's log. When the last app has exited, cleanup runs (to end what the
// apps left behind, which may hold their output open) and the logs are
// drained. It returns the pod's exit code: the code of the first app to
// fail, or 0.
func Supervise(rc *RunContext, specs []AppSpec, start Starter, cleanup func(), hooks Hooks) int {
	podDir := rc.PodDir
	if hooks.Ready == nil {
		hooks.Ready = func() {
			MarkReady(podDir)
			NotifyReady()
		}
	}
	if hooks.StartFailed == nil {
		hooks.StartFailed = func(err error) { fmt.Fprintf(os.Stderr, "podctl: %v\n", err) }
	}
	var copiers sync.WaitGroup
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	procs := make([]Proc, len(specs))
	ended := make([]bool, len(specs))
	started := make([]time.Time, len(specs))
	exits := make(chan appExit, len(specs))
	running := 0
	code := 0
	failed := false

	for i := range specs {
		s := &specs[i]
		started[i] = time.Now()
		var proc Proc
		var err error
		if rc.Interactive {
			// The terminal is the app's: nothing goes through the logs.
			proc, err = start(s, Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
		} else {
			var stdout, stderr *os.File
			stdout, stderr, err = logApp(filepath.Join(podDir, lifecycle.AppDir(s.Name)), &copiers)
			if err == nil {
				proc, err = start(s, Stdio{Stdout: stdout, Stderr: stderr})
				// The app has its own copies; ours would keep the logs
				// from ending.
				stdout.Close()
				stderr.Close()
			}
		}
		if err != nil {
			hooks.StartFailed(err)
			RecordStatus(podDir, s.Name, &lifecycle.AppStatus{ExitCode: ExitStartFailed, Message: "the app did not start: " + err.Error(), StartedAt: started[i], FinishedAt: time.Now()})
			code, failed = ExitStartFailed, true
			break
		}
		procs[i] = proc
		running++
		rc.Debugf("app %s started as pid %d", s.Name, proc.Pid())
		writePid(filepath.Join(podDir, lifecycle.AppDir(s.Name), AppPid), proc.Pid())
		go func(i int) {
			ws, err := procs[i].Wait()
			exits <- appExit{index: i, status: ws, err: err}
		}(i)
	}
	if !failed {
		hooks.Ready()
	}

	var kill <-chan time.Time
	stopAll := func(sig syscall.Signal) {
		for i, p := range procs {
			if p != nil && !ended[i] {
				p.Signal(sig)
			}
		}
		if kill == nil && sig != syscall.SIGKILL {
			kill = time.After(StopGrace)
		}
	}
	if failed {
		stopAll(syscall.SIGTERM)
	}
	for running > 0 {
		select {
		case e := <-exits:
			running--
			ended[e.index] = true
			trace.Mark("app exited")
			st := exitStatus(e.status, e.err)
			NoteOOM(st, &specs[e.index])
			st.StartedAt = started[e.index]
			st.FinishedAt = time.Now()
			// The pid is no longer the app's: enter must not find it.
			os.Remove(filepath.Join(podDir, lifecycle.AppDir(specs[e.index].Name), AppPid))
			RecordStatus(podDir, specs[e.index].Name, st)
			rc.Debugf("app %s exited with status %d", specs[e.index].Name, st.ExitCode)
			if st.ExitCode != 0 && !failed {
				code, failed = st.ExitCode, true
				stopAll(syscall.SIGTERM)
			}
		case sig := <-sigs:
			rc.Debugf("forwarding %s to the apps", unix.SignalName(sig.(syscall.Signal)))
			stopAll(sig.(syscall.Signal))
		case <-kill:
			stopAll(syscall.SIGKILL)
		}
	}
	cleanup()
	copiers.Wait()
	trace.Mark("apps done")
	return code
}

// logApp makes the pipes an app writes its output to, and starts copying
// each to the caller's stream of the same name and to the app's log.
func logApp(appDir string, copiers *sync.WaitGroup) (stdout, stderr *os.File, err error) {
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
			if err := l.Copy(name, r, tee); err != nil {
				fmt.Fprintf(os.Stderr, "podctl: logging %s: %v\n", name, err)
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
		return &lifecycle.AppStatus{ExitCode: ExitStartFailed, Message: err.Error()}
	case ws.Signaled():
		return &lifecycle.AppStatus{ExitCode: 128 + int(ws.Signal()), Signal: unix.SignalName(ws.Signal())}
	default:
		return &lifecycle.AppStatus{ExitCode: ws.ExitStatus()}
	}
}

// MarkReady writes the pod's ready file: every app has started.
func MarkReady(podDir string) {
	if err := fsutil.WriteFile(filepath.Join(podDir, lifecycle.FileReady), nil, 0o600, false); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	}
}

// RecordStatus records an app's end, saying on stderr if it cannot.
func RecordStatus(podDir, app string, st *lifecycle.AppStatus) {
	if err := lifecycle.WriteAppStatus(podDir, app, st); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	}
}

// writePid records a pid. Atomic, not durable: a pid means nothing after a
// reboot.
func writePid(path string, pid int) {
	if err := fsutil.WriteFile(path, []byte(strconv.Itoa(pid)), 0o600, false); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	}
}

// WritePodPid records the stage1 process's pid in the pod; its mtime is the
// pod's start time.
func WritePodPid(podDir string) {
	writePid(filepath.Join(podDir, lifecycle.FilePid), os.Getpid())
}
