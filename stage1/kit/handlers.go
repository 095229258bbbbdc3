package kit

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"
)

// The appc event handlers podctl runs, by their names in an image's
// eventHandlers.
const (
	PreStart = "pre-start"
	PostStop = "post-stop"
)

// Handler time limits, the same in every flavor: the systemd flavor's
// units give ExecStartPre the start timeout systemd gives it by default,
// and ExecStopPost the units' stop timeout (StopGrace). A handler still
// running then is killed, which fails a pre-start.
const (
	PreStartTimeout = 90 * time.Second
	PostStopTimeout = StopGrace
)

// readHandlers gives s the commands of the app's pre-start and post-stop
// handlers. appc allows one handler of each name: a second is refused
// rather than one of them run quietly.
func readHandlers(s *AppSpec, hs []types.EventHandler) error {
	for _, h := range hs {
		var dst *[]string
		switch h.Name {
		case PreStart:
			dst = &s.PreStart
		case PostStop:
			dst = &s.PostStop
		default:
			// appc refuses other names in an image; one in a pod
			// manifest from elsewhere has nothing to run it.
			continue
		}
		if len(h.Exec) == 0 {
			return fmt.Errorf("app %s: its %s handler has no command", s.Name, h.Name)
		}
		if *dst != nil {
			return fmt.Errorf("app %s: it has two %s handlers", s.Name, h.Name)
		}
		*dst = append([]string(nil), h.Exec...)
	}
	return nil
}

// HandlerSpec is the spec that runs app s's handler of the given name
// (PreStart or PostStop), or nil if the app has none: the app's root,
// mounts, environment, working directory, cgroups and confinement, as
// root (as the appc spec asks), with the handler's command.
func (s *AppSpec) HandlerSpec(name string) *AppSpec {
	cmd := s.PreStart
	if name == PostStop {
		cmd = s.PostStop
	}
	if len(cmd) == 0 {
		return nil
	}
	h := *s
	h.Exec = cmd
	h.User, h.Group = "0", "0"
	// The app's notify socket (ListenNotify) is the app's: a handler's
	// READY=1 must not make the app ready.
	h.Env = slices.DeleteFunc(slices.Clone(s.Env), func(kv string) bool { return strings.HasPrefix(kv, "NOTIFY_SOCKET=") })
	h.Mounts = slices.DeleteFunc(slices.Clone(s.Mounts), func(m MountSpec) bool { return m.Target == AppNotifySocket })
	// A handler is no app: it runs none of its own.
	h.PreStart, h.PostStop = nil, nil
	return &h
}

// HandlerError is the one line of a handler that did not succeed, named
// with its app: how it ended (exited with N, killed by a signal), or why it
// did not start.
func HandlerError(app, name string, how string) error {
	return fmt.Errorf("app %s: %s handler %s", app, name, how)
}

// handlerEnd says how a handler's process ended, or "" for exit code 0.
func handlerEnd(ws syscall.WaitStatus, err error, timedOut bool, limit time.Duration) string {
	switch {
	case timedOut:
		return fmt.Sprintf("did not finish within %s and was killed", limit)
	case err != nil:
		return err.Error()
	case ws.Signaled():
		return "was killed by " + unix.SignalName(ws.Signal())
	case ws.ExitStatus() != 0:
		return fmt.Sprintf("exited with %d", ws.ExitStatus())
	}
	return ""
}

// runHandler runs app i's handler of the given name, if it has one,
// through the flavor's Starter, and waits for it within its time limit.
// Its output goes where the app's goes. It returns the handler's one line
// if it did not exit 0.
func (s *Supervisor) runHandler(i int, name string) error {
	spec := &s.Specs[i]
	h := spec.HandlerSpec(name)
	if h == nil {
		return nil
	}
	limit := PreStartTimeout
	if name == PostStop {
		limit = PostStopTimeout
	}
	stdio, release, err := s.stdio(i)
	if err != nil {
		return HandlerError(spec.Name, name, "could not start: "+err.Error())
	}
	// The app's input (--stdin) is the app's, not its handlers'.
	stdio.Stdin = nil
	proc, err := s.Start(h, stdio)
	release()
	if err != nil {
		// The Starter's line names the app already.
		msg := strings.TrimPrefix(err.Error(), "app "+spec.Name+": ")
		return HandlerError(spec.Name, name, "did not start: "+msg)
	}
	s.RC.Debugf("app %s: %s handler started as pid %d", spec.Name, name, proc.Pid())
	type end struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan end, 1)
	go func() {
		ws, err := proc.Wait()
		done <- end{ws, err}
	}()
	// A pre-start runs on Run's goroutine, before the apps are waited
	// for: a signal that stops the pod ends it too. A post-stop runs on
	// its app's waiter and leaves the signals to Run.
	var sigs <-chan os.Signal
	if name == PreStart {
		sigs = s.sigs
	}
	deadline := time.After(limit)
	timedOut, stopped := false, false
	var e end
	for waiting := true; waiting; {
		select {
		case e = <-done:
			waiting = false
		case <-deadline:
			timedOut = true
			proc.Signal(syscall.SIGKILL)
		case sig := <-sigs:
			if s.RC.Interactive && sig == syscall.SIGINT {
				continue // the terminal's, as in onSignal
			}
			stopped = true
			proc.Signal(syscall.SIGKILL)
			s.onSignal(sig)
		}
	}
	if stopped {
		return HandlerError(spec.Name, name, "was stopped with the pod")
	}
	if how := handlerEnd(e.ws, e.err, timedOut, limit); how != "" {
		return HandlerError(spec.Name, name, how)
	}
	return nil
}
