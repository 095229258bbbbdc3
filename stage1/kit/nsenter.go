package kit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"podctl/stage1"
)

// ReenterInUserNS executes podctl (self) with args again in the user
// namespace userns, through util-linux's nsenter: a Go process cannot
// join a user namespace (setns refuses a process with threads), nsenter,
// a single-threaded program, can. env is added to the environment. The
// command keeps its credentials (--preserve-credentials) and has every
// capability in that namespace, over the namespaces it owns. Signals are
// passed on as EnterApp does; its exit status is returned.
func ReenterInUserNS(userns *os.File, self string, args, env []string, stdio stage1.Stdio) (int, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return 0, errors.New("nsenter is missing, which podctl enter needs to join a pod's user namespace: install util-linux")
	}
	x := exec.Command(nsenter, append([]string{"--user=/proc/self/fd/3", "--preserve-credentials", "--", self}, args...)...)
	x.Env = append(os.Environ(), env...)
	x.ExtraFiles = []*os.File{userns}
	stdio.Apply(x)
	// SIGINT and SIGQUIT from the terminal reach the command too; SIGTERM
	// and SIGHUP are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer ReleaseSignals(sigs)
	if err := x.Start(); err != nil {
		return 0, fmt.Errorf("joining the pod's user namespace: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
					x.Process.Signal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	err = x.Wait()
	close(done)
	ws, ok := x.ProcessState.Sys().(syscall.WaitStatus)
	if err != nil && !ok {
		return 0, fmt.Errorf("joining the pod's user namespace: %w", err)
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}
