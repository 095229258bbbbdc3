package systemd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/coreos/go-systemd/v22/unit"

	"podctl/stage1/kit"
	"podctl/stage1/seccomp/custom"
)

// A pod boots only what its apps need. The host's systemd, booted in the
// stage1 root, would otherwise do two things a pod pays for and never
// uses:
//
//   - run every generator of the host's /usr (fstab, getty, sysv, rc-local,
//     cryptsetup, gpt-auto...) at each boot, a dozen processes in
//     parallel, before it loads a unit. The stage1 root has no fstab, no
//     init scripts and no kernel command line of its own: they would make
//     nothing. A link to /dev/null of the same name in
//     /etc/systemd/system-generators masks each (systemd.generator(7)).
//   - at the end, stop every mount unit (the stage1 root's binds, the apps'
//     roots and files, nspawn's /tmp), one umount process each, because
//     systemd-exit.service requires umount.target. The mounts all live in
//     the pod's mount namespace, which goes with the pod's last process:
//     unmounting them one by one first is work for nothing. The pod's own
//     systemd-exit.service (in /etc, which wins over /usr) asks for the
//     services to stop (shutdown.target, which every app's unit conflicts
//     with, so each is stopped and its exit recorded) and then exits.
//
// A stop (nspawn's SIGTERM, which it turns into a halt of the pod) still
// goes the long way: systemd 252 knows no SuccessAction=halt-force, and
// ending a halt with exit-force would make nspawn exit with whatever code
// an exit hook set meanwhile, which stage1 would read as nspawn killed by
// a signal.

// generatorDirs are where systemd 252 looks for system generators, below
// /etc, which the pod's masks are in.
var generatorDirs = []string{
	"/usr/local/lib/systemd/system-generators",
	"/usr/lib/systemd/system-generators",
	"/lib/systemd/system-generators",
}

// maskGenerators masks, in the stage1 root's /etc, every generator the
// host's systemd would run.
func maskGenerators(root string) error {
	masks := filepath.Join(root, "etc", "systemd", "system-generators")
	if err := os.MkdirAll(masks, 0o755); err != nil {
		return fmt.Errorf("masking the generators: %w", err)
	}
	for _, dir := range generatorDirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("masking the generators: %w", err)
		}
		for _, e := range entries {
			err := os.Symlink("/dev/null", filepath.Join(masks, e.Name()))
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("masking the generators: %w", err)
			}
		}
	}
	return nil
}

// exitUnit is the pod's systemd-exit.service, which exit.target (`systemctl
// exit`) starts: the host's, but for umount.target and final.target.
func exitUnit() []*unit.UnitOption {
	return []*unit.UnitOption{
		unit.NewUnitOption("Unit", "Description", "Exit the pod"),
		unit.NewUnitOption("Unit", "DefaultDependencies", "no"),
		unit.NewUnitOption("Unit", "Requires", "shutdown.target"),
		unit.NewUnitOption("Unit", "After", "shutdown.target"),
		unit.NewUnitOption("Unit", "SuccessAction", "exit-force"),
	}
}

// nspawnFilter reports whether nspawn installs its own seccomp filter on
// the whole pod: its allow-list, compiled by libseccomp for each of the
// host's architectures at every start, costs nspawn 30 to 60 ms of CPU
// here, about a fifth of a pod's start. Every app whose exec helper
// loads podctl's default filter (or the default with more calls refused,
// mode=remove) runs under a filter as strict as nspawn's, which
// would add nothing for it. nspawn keeps its own where it is the only
// one, or a broader one than the app's: an app run unconfined or with an
// allow-list of its own (mode=retain), an app not confined at all, and
// a mutable pod, whose later apps are not known when it boots.
func nspawnFilter(specs []kit.AppSpec, mutable bool) bool {
	if mutable {
		return true
	}
	for _, s := range specs {
		if !s.Confined || (s.Seccomp != nil && s.Seccomp.Mode != custom.ModeRemove) {
			return true
		}
	}
	return false
}

// nspawnEnv is nspawn's environment: the boot helper's, with systemd's
// own switch for its seccomp filters off unless the pod needs nspawn's
// (nspawnFilter). nspawn passes none of its environment to the pod's
// systemd, whose own filters (none of the apps' units has one) it does
// not change.
func nspawnEnv(specs []kit.AppSpec, mutable bool) []string {
	env := os.Environ()
	if nspawnFilter(specs, mutable) {
		return env
	}
	return append(env, "SYSTEMD_SECCOMP=0")
}
