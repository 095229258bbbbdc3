package stage0

import (
	"podctl/internal/errdefs"
	"podctl/internal/rootless"
)

// RootlessFlavor is the flavor of an ordinary user's pods, the one that
// runs without root.
const RootlessFlavor = "native"

// RootlessNet is the network of an ordinary user's pod when no --net is
// given: CNI networks need root on the host, so it has none but its own
// loopback.
const RootlessNet = "none"

// checkRootless refuses, when podctl acts for an ordinary user
// (rootless.Active), what such a pod cannot have, in one line each: a
// flavor but native, cgroup limits and device rules (nothing delegates
// cgroups to the user here: stage1's pod runs without any), and CNI
// networks. A pod given no --net gets RootlessNet.
func checkRootless(opts *PrepareOptions, flavor string) error {
	if !rootless.Active() {
		return nil
	}
	if flavor != RootlessFlavor {
		return errdefs.New(ErrUsage, "the %s flavor needs root: without root podctl runs the native flavor only (--stage1=native)", flavor)
	}
	for _, a := range opts.Apps {
		if a.Memory > 0 || a.CPU > 0 || a.PidsLimit > 0 {
			return errdefs.New(ErrUsage, "--memory, --cpu and --pids-limit need cgroups, which podctl sets only as root (no cgroup is delegated to users here): run the pod without them, or as root")
		}
	}
	if len(opts.Devices) > 0 {
		return errdefs.New(ErrUsage, "--device needs the devices cgroup, which only root can set: run the pod without it, or as root")
	}
	net := opts.Network.Net
	if len(net) == 0 {
		opts.Network.Net = []string{RootlessNet}
		return nil
	}
	for _, n := range net {
		if n != "none" && n != "host" {
			return errdefs.New(ErrUsage, "--net=%s: CNI networks need root: without root a pod has --net=none (the default) or --net=host", n)
		}
	}
	return nil
}
