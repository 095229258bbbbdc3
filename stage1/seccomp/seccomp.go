// Package seccomp installs podctl's default seccomp filter, the equivalent
// of Docker's default profile for a process with the default capabilities
// (see package profile), on the thread that is about to execute an app.
//
// On amd64 the default filter is a BPF program generated from the profile
// by mkprogram.go (go generate), so loading it costs two system calls;
// elsewhere it is assembled when loaded. An app's own filter (--seccomp)
// is assembled by stage1 before the app starts, through podctl-fetch, so
// that no process of a pod's start links the assembler.
// Installing it takes the kernel about 0.06 ms: seccomp(2) runs the
// program once for every call number to cache which are always allowed,
// and a binary search on the number (package profile) decides each in a
// dozen instructions where the library's chain of comparisons took up
// to 360 (0.3 ms).
package seccomp

//go:generate go run mkprogram.go

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"podctl/stage1/seccomp/custom"
)

// Load sets no_new_privs on the calling thread and installs the default
// filter on it (no TSYNC). The caller has locked its OS thread and is
// about to execve the app from it: the filter and no_new_privs pass to
// the new program.
func Load() error {
	return LoadCustom(nil, nil, true)
}

// LoadCustom is Load with an app's own filter c: the default one if c is
// nil, none if c is unconfined, else prog, which stage1 assembled from c
// (profile.CustomProgram, in podctl-fetch); and no_new_privs only if
// noNewPrivs. Without no_new_privs the thread must have CAP_SYS_ADMIN in
// its effective set to install a filter.
func LoadCustom(c *custom.Custom, prog []unix.SockFilter, noNewPrivs bool) error {
	prog, err := Filter(c, prog)
	if err != nil {
		return err
	}
	// With no_new_privs, setuid bits and file capabilities give the app
	// nothing the filter would have to account for.
	if noNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("setting no_new_privs: %w", err)
		}
	}
	if len(prog) == 0 {
		return nil
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("installing the seccomp filter: %w", errno)
	}
	return nil
}

// Filter is the program LoadCustom installs for c and prog: the default
// filter when c is nil, none for an unconfined app, else prog, which
// must have been assembled.
func Filter(c *custom.Custom, prog []unix.SockFilter) ([]unix.SockFilter, error) {
	switch {
	case c == nil:
		return program(TracingSafe())
	case c.Mode == custom.ModeUnconfined:
		return nil, nil
	case len(prog) == 0:
		return nil, fmt.Errorf("the app's own seccomp filter (%s) was not assembled", c)
	}
	return prog, nil
}

// TracingSafe reports whether the kernel is Linux 4.8 or later, where a
// tracer can no longer change a call after the filter has passed it, so
// the profile may allow ptrace.
func TracingSafe() bool {
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
