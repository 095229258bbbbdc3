package systemd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/unit"
	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// The event handlers' hooks: `podctl stage1 systemd-app-handler APP NAME`
// runs in the service (ExecStartPre for pre-start, ExecStopPost for
// post-stop), in the stage1 root, and waits for `podctl stage1
// systemd-app-handler-exec APP NAME`, which becomes the handler as
// hookExecMain becomes the app. The waiting hook records a failed
// pre-start as the app's start error, for the exit hook to report.
const (
	hookHandler     = "systemd-app-handler"
	hookHandlerExec = "systemd-app-handler-exec"
)

// withHandlers adds to an app's unit the hooks of the handlers s has:
// pre-start before the app, whose failure fails the service; post-stop
// after it, before the exit hook, so that it is over before the exit
// hook may end the pod, and whose failure ("-") does not keep the exit
// hook from running.
func withHandlers(opts []*unit.UnitOption, s *kit.AppSpec) []*unit.UnitOption {
	var out []*unit.UnitOption
	for _, o := range opts {
		switch {
		case o.Section == "Service" && o.Name == "ExecStart" && len(s.PreStart) > 0:
			out = append(out,
				unit.NewUnitOption("Service", "ExecStartPre", execLine([]string{inBinary, stage1.Verb, hookHandler, s.Name, kit.PreStart})),
				unit.NewUnitOption("Service", "TimeoutStartSec", strconv.Itoa(int(kit.PreStartTimeout.Seconds()))))
		case o.Section == "Service" && o.Name == "ExecStopPost" && len(s.PostStop) > 0:
			out = append(out, unit.NewUnitOption("Service", "ExecStopPost", "-"+execLine([]string{inBinary, stage1.Verb, hookHandler, s.Name, kit.PostStop})))
		}
		out = append(out, o)
	}
	return out
}

// hookHandlerMain runs an app's handler and waits for it. A pre-start
// that fails is the app's start error, and fails the service.
func hookHandlerMain(args []string) int {
	if len(args) != 2 || (args[1] != kit.PreStart && args[1] != kit.PostStop) {
		fmt.Fprintln(os.Stderr, "podctl: usage: stage1 "+hookHandler+" APP pre-start|post-stop")
		return 1
	}
	app, name := args[0], args[1]
	p, err := lifecycle.OpenAt(inPod)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return 1
	}
	defer p.Close()
	dir := p.FilePath(lifecycle.AppDir(app))
	if name == kit.PreStart {
		// A start error of an earlier start, before a restart, is not
		// this start's.
		if err := os.Remove(filepath.Join(dir, lifecycle.AppStartError)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		}
	}
	err = runHandler(app, name)
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	if name != kit.PreStart {
		return 1
	}
	// Atomic, not durable: read once by the exit hook, which follows at
	// once, and meaningless after a reboot.
	if werr := fsutil.WriteFile(filepath.Join(dir, lifecycle.AppStartError), []byte(err.Error()), 0o600, false); werr != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", werr)
	}
	return 1
}

// runHandler starts the handler's process and says how it ended, as
// kit's supervisor does for the other flavors.
func runHandler(app, name string) error {
	cmd := exec.Command(inBinary, stage1.Verb, hookHandlerExec, app, name)
	// The service's output, which is the app's; no input.
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == stage1.ExitStartFailed:
		// The exec hook has said why, on the app's output.
		return kit.HandlerError(app, name, "did not start")
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return kit.HandlerError(app, name, fmt.Sprintf("exited with %d", ee.ExitCode()))
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		return kit.HandlerError(app, name, "was killed by "+unix.SignalName(ws.Signal()))
	case err != nil:
		return kit.HandlerError(app, name, "did not start: "+err.Error())
	}
	return nil
}

// hookHandlerExecMain becomes an app's handler: the app's root, cgroups
// and confinement, as root, with the handler's command.
func hookHandlerExecMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "podctl: usage: stage1 "+hookHandlerExec+" APP pre-start|post-stop")
		return 1
	}
	app, name := args[0], args[1]
	err := func() error {
		p, err := lifecycle.OpenAt(inPod)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p.FilePath(lifecycle.AppFile(app, lifecycle.AppSpecJSON)))
		p.Close()
		if err != nil {
			return err
		}
		s, err := kit.DecodeSpec(string(b))
		if err != nil {
			return err
		}
		h := s.HandlerSpec(name)
		if h == nil {
			return fmt.Errorf("app %s has no %s handler", app, name)
		}
		if err := addSecrets(h); err != nil {
			return err
		}
		if err := kit.JoinCgroups(h); err != nil {
			return err
		}
		if err := isolate(); err != nil {
			return err
		}
		if err := kit.SetUpRoot(h, h.CgroupViews); err != nil {
			return err
		}
		return kit.ExecApp(h, nil)
	}()
	fmt.Fprintf(os.Stderr, "podctl: app %s: %s handler: %s\n", app, name, strings.TrimPrefix(err.Error(), "app "+app+": "))
	return stage1.ExitStartFailed
}
