package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"podctl/stage0"
)

// secFlags are the security flags of the pod as a whole (run, prepare).
type secFlags struct {
	devices      []stage0.DeviceOption
	privateUsers string
	ownership    string
	// fs tells which flags were given.
	fs *pflag.FlagSet
}

func (s *secFlags) add(fs *pflag.FlagSet) {
	s.fs = fs
	list(fs, &s.devices, "device", stage0.ParseDevice, "give every app a host device: /dev/X[:PATH][:rwm], such as --device=/dev/fuse or --device=/dev/zero:/dev/myzero:r; PATH (below /dev) defaults to the host's path, access to rwm (m is dropped: an app never gets mknod); native and systemd only (repeatable)")
	fs.StringVar(&s.privateUsers, "private-users", "", "map the pod's root and users to host ids of its own, never the host's: auto (a free range of 65536 ids), UID or UID:COUNT; native and systemd only")
	fs.Lookup("private-users").NoOptDefVal = "auto"
	fs.StringVar(&s.ownership, "private-users-ownership", "auto", "how the apps' trees come to be owned by the pod's ids: map (idmapped mounts, nothing copied), chown (a chowned copy of each tree) or auto")
}

// users reads --private-users and --private-users-ownership.
func (s *secFlags) users() (stage0.PrivateUsersOption, error) {
	fs := s.fs
	if !fs.Changed("private-users") {
		if fs.Changed("private-users-ownership") {
			return stage0.PrivateUsersOption{}, fmt.Errorf("--private-users-ownership needs --private-users")
		}
		return stage0.PrivateUsersOption{}, nil
	}
	o, err := stage0.ParsePrivateUsers(s.privateUsers)
	if err != nil {
		return o, err
	}
	if err := stage0.CheckOwnership(s.ownership); err != nil {
		return o, err
	}
	o.Ownership = s.ownership
	return o, nil
}

// addAppSecurity registers the per-app security flags on fs, with def's
// values as defaults.
func addAppSecurity(fs *pflag.FlagSet, a *stage0.AppOptions, def *stage0.AppOptions) {
	fs.BoolVar(&a.ReadOnlyRootfs, "readonly-rootfs", def.ReadOnlyRootfs, "make the app's root read-only (--readonly-rootfs[=true|false]); /tmp and /run are fresh tmpfs folders, and volumes keep their own setting")
}
