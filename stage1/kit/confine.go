package kit

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Confine marks the apps of an isolated flavor confined: each executes
// with the default capabilities only, no_new_privs and the default seccomp
// filter (ExecApp), and may open only the standard device nodes and make
// none (cgroup.DefaultDevices, from the cgroups NewPodCgroups makes).
func Confine(specs []AppSpec) {
	for i := range specs {
		specs[i].Confined = true
		specs[i].Limits.Devices = true
	}
}

// defaultCapabilities are the capabilities an app keeps, those container
// engines give by default: enough to act as root within its own files and
// namespaces, not to reach past them (no CAP_SYS_ADMIN, so no mount; no
// CAP_SYS_MODULE, CAP_SYS_TIME, CAP_NET_ADMIN...).
var defaultCapabilities = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
	unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID,
	unix.CAP_SETFCAP, unix.CAP_SETPCAP, unix.CAP_NET_BIND_SERVICE,
	unix.CAP_SYS_CHROOT, unix.CAP_KILL, unix.CAP_AUDIT_WRITE,
}

// DropCapabilities limits what the calling thread forks to the default
// capabilities. The others leave the thread's bounding set, which is all a
// root app's capabilities are made of when it executes; and the thread's
// inheritable set is emptied, since it would be added to them. The thread
// itself keeps its effective capabilities, which it needs to clone the app
// into new namespaces. Capabilities belong to threads.
func DropCapabilities() error {
	last := uintptr(unix.CAP_LAST_CAP)
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = uintptr(n)
		}
	}
	keep := map[uintptr]bool{}
	for _, c := range defaultCapabilities {
		keep[c] = true
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
