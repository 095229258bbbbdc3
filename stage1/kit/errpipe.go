package kit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"podctl/stage1/appexec"
	"strings"
)

// The error pipe protocol between a stage1 process and a helper it starts
// to become an app (or a pod's init):
//
//   - The parent hands the write end of a pipe to the child as fd 3
//     (ErrPipeFD) and closes its own copy once the child has started.
//   - The child marks fd 3 close-on-exec at once. If anything fails before
//     it executes the app, it writes one line, the error, to fd 3 and exits
//     with status 1.
//   - When the child executes the app, the kernel closes fd 3, so the
//     parent reads end-of-file with no bytes: the app is running. A child
//     that starts its payload as a process of its own closes fd 3 itself
//     once it has (HelperStarted).
//
// So the parent learns, without a timeout, either that the app started or
// the one line saying why it did not.

// ErrPipeFD is the descriptor the error pipe has in a helper.
const ErrPipeFD = appexec.ErrPipeFD

// HelperInit, HelperStarted and HelperFail are the helper's side of the
// protocol (appexec.Init, appexec.Started, appexec.Fail).
func HelperInit()              { appexec.Init() }
func HelperStarted()           { appexec.Started() }
func HelperFail(err error) int { return appexec.Fail(err) }

// StartWithErrPipe starts cmd (which must not use ExtraFiles) with the
// error pipe and waits until the child has executed its app or reported why
// not. On failure the child has been reaped.
func StartWithErrPipe(cmd *exec.Cmd) error {
	r, err := StartErrPipe(cmd)
	if err != nil {
		return err
	}
	return WaitErrPipe(r, func() { cmd.Wait() })
}

// StartErrPipe starts cmd with the error pipe, its descriptor 3 (and
// cmd.ExtraFiles from 4 on), and returns the pipe's read end, for a parent
// that has more to do before it waits for the child (WaitErrPipe).
func StartErrPipe(cmd *exec.Cmd) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting helper: %w", err)
	}
	cmd.ExtraFiles = append([]*os.File{w}, cmd.ExtraFiles...)
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("starting helper: %w", err)
	}
	return r, nil
}

// WaitErrPipe reads the error pipe r of a child started with
// StartErrPipe or StartChild to its end, and closes it: nil once the child
// runs its app, or the line saying why it does not, once wait has reaped
// the child.
func WaitErrPipe(r *os.File, wait func()) error {
	defer r.Close()
	msg, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading helper's status: %w", err)
	}
	if len(msg) == 0 {
		return nil
	}
	wait()
	return errors.New(strings.TrimSpace(string(msg)))
}
