// Package seccomp holds podctl's default seccomp profile, the equivalent of
// Docker's default one for a process with the default capabilities, and
// installs it on the thread that is about to execute an app.
package seccomp

import (
	"fmt"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Load sets no_new_privs on the calling thread and installs the default
// filter on it (no TSYNC). The caller has locked its OS thread and is
// about to execve the app from it: the filter and no_new_privs pass to
// the new program.
func Load() error {
	policy, err := Policy(tracingSafe())
	if err != nil {
		return err
	}
	filter := libseccomp.Filter{NoNewPrivs: true, Policy: policy}
	if err := libseccomp.LoadFilter(filter); err != nil {
		return fmt.Errorf("loading the seccomp filter: %w", err)
	}
	return nil
}

// tracingSafe reports whether the kernel is Linux 4.8 or later, where a
// tracer can no longer change a call after the filter has passed it.
func tracingSafe() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 4 || major == 4 && minor >= 8
}
