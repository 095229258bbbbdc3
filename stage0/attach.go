package stage0

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1/console"
)

// AttachOptions are the choices of podctl attach.
type AttachOptions struct {
	// App is the app whose output to follow, in a pod of several apps
	// without a terminal.
	App string
	// NoStdin only watches an interactive pod's terminal: nothing typed
	// reaches it.
	NoStdin bool
}

// ErrDetached is Attach's error when the user typed the detach keys: the
// pod goes on.
var ErrDetached = console.ErrDetached

// DetachKeys are the keys that leave an attached terminal.
const DetachKeys = console.DetachKeys

// Attach connects the caller to a running pod. A pod started with run
// --detach --interactive has a terminal, which Attach connects to in and
// out (in nil, or NoStdin, only watches it) until the terminal ends or the
// user types the detach keys (ErrDetached). Any other pod's app output is
// followed from its log, as podctl logs --follow does, until the pod
// exits or ctx ends. Leaving never stops the pod.
func Attach(ctx context.Context, c Config, id string, opts AttachOptions, in *os.File, out, errOut io.Writer) error {
	p, err := c.OpenPod(id)
	if err != nil {
		return err
	}
	defer p.Close()
	if p.State() != lifecycle.Running {
		return errdefs.New(ErrUsage, "pod %s is %s: attach reaches running pods; podctl logs %s prints what its apps wrote", p.UUID, p.State(), p.UUID)
	}
	dial := func() (net.Conn, error) { return dialConsole(p) }
	conn, err := dial()
	if errors.Is(err, fs.ErrNotExist) {
		// No terminal: its apps' output is in their logs.
		return Logs(ctx, c, p.UUID, LogsOptions{App: opts.App, Tail: -1, Follow: true}, out, errOut)
	}
	if err != nil {
		return err
	}
	// The first connection is the attaching one.
	first := conn
	dial = func() (net.Conn, error) {
		if c := first; c != nil {
			first = nil
			return c, nil
		}
		return dialConsole(p)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if opts.NoStdin {
		in = nil
	}
	err = console.Attach(dial, in, out)
	if ctx.Err() != nil {
		// Interrupted: leaving is what the user asked for.
		return nil
	}
	return err
}

// dialConsole connects to the pod's console socket, through the open pod
// directory. Its error wraps fs.ErrNotExist if the pod has no console.
func dialConsole(p *lifecycle.Pod) (net.Conn, error) {
	path := fmt.Sprintf("/proc/self/fd/%d/%s", p.LockFile().Fd(), lifecycle.FileConsole)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return nil, fmt.Errorf("pod %s: %s is not a socket: the pod directory is damaged", p.UUID, lifecycle.FileConsole)
	}
	conn, err := net.Dial("unix", path)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, errdefs.New(ErrUsage, "pod %s's terminal is gone (its stage1 has ended)", p.UUID)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to pod %s's terminal: %w", p.UUID, err)
	}
	return conn, nil
}
