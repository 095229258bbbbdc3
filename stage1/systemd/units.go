package systemd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// Paths inside the stage1 root, as the pod's systemd sees them.
const (
	// inPod is where the pod directory is bound.
	inPod = "/podctl/pod"
	// inBinary is where the podctl binary is bound, for the units' hooks.
	inBinary = "/podctl/podctl"
	// stage2 holds one folder per app; its rootfs is the app's root.
	stage2 = "/opt/stage2"
	// inCgroups holds, per app, the cgroup folders of its limits.
	inCgroups = "/podctl/cgroups"
	// inSecrets is a tmpfs holding, per app, its secret variables.
	inSecrets = "/podctl/secrets"
	// inDevices holds the host's nodes of the pod's devices (--device).
	inDevices = "/podctl/devices"
	// podTarget is the target that wants every app; default.target links
	// to it.
	podTarget = "podctl-pod.target"
)

func serviceName(app string) string { return app + ".service" }

// appUnit is the service that runs one app. Its main process is podctl's
// exec helper, which joins the app's cgroups (its limits), enters the app's
// root in the service's private mount namespace, takes the app's user and
// environment and becomes the app: the same path to an app as fly's, so
// both flavors give an app the same view and the same limits. The hooks
// record the start and the exit status and, when the pod is over, tell
// systemd to exit.
//
// An interactive app has the pod's console, which nspawn relays to the
// caller's terminal, as its standard streams; others write to FIFOs that
// stage1 copies to the caller and the app's log. An app given stage1's
// standard input (--stdin) opens its FIFO itself (hookExecMain): the
// service's hooks, which systemd would give the same input, must not wait
// on it.
func appUnit(app string, u unitOptions) []*unit.UnitOption {
	interactive := u.Interactive
	appDir := filepath.Join(inPod, lifecycle.AppDir(app))
	stdio := []*unit.UnitOption{
		unit.NewUnitOption("Service", "StandardInput", "null"),
		unit.NewUnitOption("Service", "StandardOutput", "file:"+filepath.Join(appDir, lifecycle.AppStdoutFIFO)),
		unit.NewUnitOption("Service", "StandardError", "file:"+filepath.Join(appDir, lifecycle.AppStderrFIFO)),
	}
	if interactive {
		stdio = []*unit.UnitOption{
			unit.NewUnitOption("Service", "StandardInput", "tty"),
			unit.NewUnitOption("Service", "StandardOutput", "tty"),
			unit.NewUnitOption("Service", "StandardError", "tty"),
			unit.NewUnitOption("Service", "TTYPath", "/dev/console"),
		}
	}
	return append([]*unit.UnitOption{
		unit.NewUnitOption("Unit", "Description", "podctl app "+app),
		unit.NewUnitOption("Unit", "DefaultDependencies", "no"),
		// Stopped, and so recorded, before the pod's systemd exits.
		unit.NewUnitOption("Unit", "Conflicts", "shutdown.target"),
		unit.NewUnitOption("Unit", "Before", "shutdown.target"),
		// The hooks need the pod and the binary until the app has stopped,
		// so at shutdown those mounts go only after it.
		unit.NewUnitOption("Unit", "RequiresMountsFor", inPod+" "+inBinary),
		unit.NewUnitOption("Service", "Type", "exec"),
		// The app's /proc, /sys and /dev mounts stay in the service.
		unit.NewUnitOption("Service", "PrivateMounts", "yes"),
		unit.NewUnitOption("Service", "ExecStart", execLine([]string{inBinary, stage1.Verb, hookExec, app})),
		unit.NewUnitOption("Service", "ExecStopPost", execLine([]string{inBinary, stage1.Verb, hookExited, app})),
		unit.NewUnitOption("Service", "TimeoutStopSec", strconv.Itoa(int(kit.StopGrace.Seconds()))),
		unit.NewUnitOption("Service", "Restart", "no"),
	}, stdio...)
}

// unitOptions are the choices of a run that shape the apps' units.
type unitOptions struct {
	// Interactive gives the single app the pod's console.
	Interactive bool
	// Hostname is the pod's host name.
	Hostname string
}

// podTargetUnit wants every app, so that booting the pod starts them.
func podTargetUnit(apps []string) []*unit.UnitOption {
	opts := []*unit.UnitOption{
		unit.NewUnitOption("Unit", "Description", "podctl pod"),
	}
	for _, a := range apps {
		opts = append(opts, unit.NewUnitOption("Unit", "Wants", serviceName(a)))
	}
	return opts
}

// execLine is a command line for Exec*=. Its words are podctl's own (the
// binary's path in the pod, a verb, an app name: letters, digits and
// dashes), so none needs quoting; the app's command is in its spec.
func execLine(argv []string) string {
	return strings.Join(argv, " ")
}

// writeUnit writes a unit file.
func writeUnit(dir, name string, opts []*unit.UnitOption) error {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("writing unit %s: %w", name, err)
	}
	defer f.Close()
	if _, err := io.Copy(f, unit.Serialize(opts)); err != nil {
		return fmt.Errorf("writing unit %s: %w", name, err)
	}
	return f.Close()
}
