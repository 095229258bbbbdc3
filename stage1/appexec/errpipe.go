package appexec

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
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
const ErrPipeFD = 3

// Init is the first thing a helper does: keep the error pipe from
// leaking into what it executes.
func Init() {
	unix.CloseOnExec(ErrPipeFD)
}

// Started tells the parent, for a helper that starts its payload as
// a child rather than executing it, that the payload is running.
func Started() {
	unix.Close(ErrPipeFD)
}

// errPipeFD is where the error pipe is now: passSockets moves it.
var errPipeFD = ErrPipeFD

// Fail reports err to the parent over the error pipe and returns the
// helper's exit status.
func Fail(err error) int {
	f := os.NewFile(uintptr(errPipeFD), "errpipe")
	fmt.Fprintln(f, strings.ReplaceAll(err.Error(), "\n", " "))
	f.Close()
	return 1
}
