package kit

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// Confine marks the apps of an isolated flavor confined: each executes
// under no_new_privs and the default seccomp filter, unless it asks for
// its own (ExecApp), and may open only the standard device nodes and make
// none (cgroup.DefaultDevices, from the cgroups NewPodCgroups makes).
func Confine(specs []AppSpec) {
	for i := range specs {
		specs[i].Confined = true
		specs[i].Limits.Devices = true
	}
}

// DropCapabilities limits what the calling thread forks to caps (an app's
// set, AppSpec.CapabilitySet). The others leave the thread's bounding set,
// which is all a root app's capabilities are made of when it executes; and
// the thread's inheritable set is emptied, since it would be added to
// them. The thread itself keeps its effective capabilities, which it needs
// to clone the app into new namespaces. Capabilities belong to threads.
func DropCapabilities(caps []capability.Cap) error {
	last := uintptr(unix.CAP_LAST_CAP)
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = uintptr(n)
		}
	}
	keep := map[uintptr]bool{}
	for _, c := range caps {
		keep[uintptr(c)] = true
	}
	for c := uintptr(0); c <= last; c++ {
		if !keep[c] {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
				return fmt.Errorf("dropping capability %d: %w", c, err)
			}
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	// Ambient capabilities would pass to a non-root app across execve.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	return nil
}
