package systemd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"podctl/stage1"
)

// Paths inside the stage1 root, as the pod's systemd sees them.
const (
	// inPod is where the pod directory is bound.
	inPod = "/podctl/pod"
	// inBinary is where the podctl binary is bound, for the units' hooks.
	inBinary = "/podctl/podctl"
	// stage2 holds one folder per app; its rootfs is the app's root.
	stage2 = "/opt/stage2"
	// podTarget is the target that wants every app; default.target links
	// to it.
	podTarget = "podctl-pod.target"
)

// Files of an app's folder (apps/<name>/) the units use.
const (
	appEnv     = "env"
	fifoStdout = "stdout.fifo"
	fifoStderr = "stderr.fifo"
	appStarted = "started"
)

func serviceName(app string) string { return app + ".service" }

// appUnit is the service that runs one app with its root, user, working
// directory and environment as unit settings. Its hooks run in the stage1
// root (RootDirectoryStartOnly): one records the start, the other the exit
// status and, when it decides the pod is over, tells systemd to exit.
//
// An interactive app has the pod's console, which nspawn relays to the
// caller's terminal, as its standard streams; others write to FIFOs that
// stage1 copies to the caller and the app's log.
func appUnit(s *stage1.AppSpec, uid, gid int, interactive bool) []*unit.UnitOption {
	appDir := filepath.Join(inPod, "apps", s.Name)
	wd := s.WorkingDir
	if wd == "" {
		wd = "/"
	}
	stdio := []*unit.UnitOption{
		unit.NewUnitOption("Service", "StandardInput", "null"),
		unit.NewUnitOption("Service", "StandardOutput", "file:"+filepath.Join(appDir, fifoStdout)),
		unit.NewUnitOption("Service", "StandardError", "file:"+filepath.Join(appDir, fifoStderr)),
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
		unit.NewUnitOption("Unit", "Description", "podctl app "+s.Name),
		unit.NewUnitOption("Unit", "DefaultDependencies", "no"),
		// Stopped, and so recorded, before the pod's systemd exits.
		unit.NewUnitOption("Unit", "Conflicts", "shutdown.target"),
		unit.NewUnitOption("Unit", "Before", "shutdown.target"),
		// The hooks need the pod and the binary until the app has stopped,
		// so at shutdown those mounts go only after it.
		unit.NewUnitOption("Unit", "RequiresMountsFor", inPod+" "+inBinary),
		unit.NewUnitOption("Service", "Type", "exec"),
		unit.NewUnitOption("Service", "RootDirectory", filepath.Join(stage2, s.Name, "rootfs")),
		unit.NewUnitOption("Service", "RootDirectoryStartOnly", "yes"),
		unit.NewUnitOption("Service", "MountAPIVFS", "yes"),
		unit.NewUnitOption("Service", "User", strconv.Itoa(uid)),
		unit.NewUnitOption("Service", "Group", strconv.Itoa(gid)),
		unit.NewUnitOption("Service", "WorkingDirectory", wd),
		unit.NewUnitOption("Service", "EnvironmentFile", filepath.Join(appDir, appEnv)),
		unit.NewUnitOption("Service", "ExecStart", execLine(s.Exec)),
		// "+": the hooks run as root whatever the app's user.
		unit.NewUnitOption("Service", "ExecStartPost", "+"+execLine([]string{inBinary, stage1.Verb, hookStarted, s.Name, "${MAINPID}"})),
		unit.NewUnitOption("Service", "ExecStopPost", "+"+execLine([]string{inBinary, stage1.Verb, hookExited, s.Name})),
		unit.NewUnitOption("Service", "TimeoutStopSec", strconv.Itoa(int(stage1.StopGrace.Seconds()))),
		unit.NewUnitOption("Service", "Restart", "no"),
	}, stdio...)
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

// execLine quotes a command line for ExecStart=: each word in double
// quotes, with the characters systemd gives meaning to escaped. A word
// that is exactly ${MAINPID} is left for systemd to expand.
func execLine(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		switch a {
		case "${MAINPID}":
			words[i] = a
			continue
		case ";":
			// A lone ";" would separate commands.
			words[i] = `\;`
			continue
		}
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`, "\n", `\n`)
		words[i] = `"` + r.Replace(a) + `"`
	}
	return strings.Join(words, " ")
}

// envFile is an EnvironmentFile: one KEY="VALUE" a line, the value's
// backslashes, quotes, dollars and backquotes escaped.
func envFile(env []string) string {
	var b strings.Builder
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "%s=\"%s\"\n", k, r.Replace(v))
	}
	return b.String()
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
