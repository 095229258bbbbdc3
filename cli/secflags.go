package cli

import (
	"github.com/spf13/pflag"

	"podctl/stage0"
)

// secFlags are the security flags of the pod as a whole (run, prepare).
type secFlags struct {
	devices []stage0.DeviceOption
}

func (s *secFlags) add(fs *pflag.FlagSet) {
	list(fs, &s.devices, "device", stage0.ParseDevice, "give every app a host device: /dev/X[:PATH][:rwm], such as --device=/dev/fuse or --device=/dev/zero:/dev/myzero:r; PATH (below /dev) defaults to the host's path, access to rwm (m is dropped: an app never gets mknod); native and systemd only (repeatable)")
}

// addAppSecurity registers the per-app security flags on fs, with def's
// values as defaults.
func addAppSecurity(fs *pflag.FlagSet, a *stage0.AppOptions, def *stage0.AppOptions) {
	fs.BoolVar(&a.ReadOnlyRootfs, "readonly-rootfs", def.ReadOnlyRootfs, "make the app's root read-only (--readonly-rootfs[=true|false]); /tmp and /run are fresh tmpfs folders, and volumes keep their own setting")
}
