package appexec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"

	"podctl/stage1/seccomp/custom"
)

// DefaultCapabilities are the capabilities an app keeps unless it asks for
// others, those container engines give by default: enough to act as root
// within its own files and namespaces, not to reach past them (no
// CAP_SYS_ADMIN, so no mount; no CAP_SYS_MODULE, CAP_SYS_TIME,
// CAP_NET_ADMIN...).
var DefaultCapabilities = []capability.Cap{
	capability.CAP_CHOWN, capability.CAP_DAC_OVERRIDE, capability.CAP_FSETID,
	capability.CAP_FOWNER, capability.CAP_MKNOD, capability.CAP_NET_RAW,
	capability.CAP_SETGID, capability.CAP_SETUID, capability.CAP_SETFCAP,
	capability.CAP_SETPCAP, capability.CAP_NET_BIND_SERVICE,
	capability.CAP_SYS_CHROOT, capability.CAP_KILL, capability.CAP_AUDIT_WRITE,
}

// ParseCapability reads a capability's name, with or without CAP_, in any
// case: CAP_NET_ADMIN, net_admin.
func ParseCapability(name string) (capability.Cap, error) {
	want := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "cap_")
	for _, c := range capability.ListKnown() {
		if c.String() == want {
			return c, nil
		}
	}
	return 0, fmt.Errorf("capability %q is not known: give names as capabilities(7) spells them, such as CAP_NET_BIND_SERVICE or net_bind_service", name)
}

// ParseCapabilities reads a list of capability names (ParseCapability),
// in order, each once.
func ParseCapabilities(names []string) ([]capability.Cap, error) {
	var out []capability.Cap
	for _, n := range names {
		c, err := ParseCapability(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// CapabilityName is c's name as capabilities(7) spells it: CAP_CHOWN.
func CapabilityName(c capability.Cap) string {
	return "CAP_" + strings.ToUpper(c.String())
}

// CapabilityNames are the names of caps (CapabilityName).
func CapabilityNames(caps []capability.Cap) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = CapabilityName(c)
	}
	return out
}

// CapabilitySet is the set of s's capabilities.
func (s *Spec) CapabilitySet() ([]capability.Cap, error) {
	if s.Capabilities == nil {
		return DefaultCapabilities, nil
	}
	caps, err := ParseCapabilities(s.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", s.Name, err)
	}
	return caps, nil
}

// CapabilityBits is the bit mask of caps, as /proc/PID/status shows sets.
func CapabilityBits(caps []capability.Cap) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return m
}

// raiseAmbient gives the calling thread, whose user is no longer root but
// which kept its permitted capabilities (PR_SET_KEEPCAPS), its effective
// capabilities back, caps as its inheritable set and caps as its ambient
// set: a program it executes then starts with caps, as a non-root process
// keeps only ambient capabilities across execve.
func raiseAmbient(caps []capability.Cap) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	bits := CapabilityBits(caps)
	for i := range data {
		data[i].Effective = data[i].Permitted
		data[i].Inheritable = uint32(bits >> (32 * i))
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	for _, c := range caps {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raising ambient capability %s: %w", CapabilityName(c), err)
		}
	}
	return nil
}

// HelperCapabilities are the capabilities the exec helper of s needs in
// its bounding set, to execute with them and become the app: the app's
// own, and those to drop the rest and change its user (CAP_SETPCAP,
// CAP_SETUID, CAP_SETGID), and CAP_SYS_ADMIN to install a seccomp filter
// without no_new_privs.
func (s *Spec) HelperCapabilities() ([]capability.Cap, error) {
	caps, err := s.CapabilitySet()
	if err != nil {
		return nil, err
	}
	need := []capability.Cap{capability.CAP_SETPCAP, capability.CAP_SETUID, capability.CAP_SETGID}
	if s.Confined && s.NewPrivileges && (s.Seccomp == nil || s.Seccomp.Mode != custom.ModeUnconfined) {
		need = append(need, capability.CAP_SYS_ADMIN)
	}
	out := append([]capability.Cap{}, caps...)
	for _, c := range need {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// DropCapabilities limits what the calling thread forks to caps (an app's
// set, Spec.CapabilitySet). The others leave the thread's bounding set,
// which is all a root app's capabilities are made of when it executes; and
// the thread's inheritable set is emptied, since it would be added to
// them. The thread itself keeps its effective capabilities, which it needs
// to clone the app into new namespaces. Capabilities belong to threads.
func DropCapabilities(caps []capability.Cap) error {
	// capability.LastCap reads cap_last_cap once a process: the exec
	// helper drops its bounding set twice.
	last := uintptr(unix.CAP_LAST_CAP)
	if c, err := capability.LastCap(); err == nil {
		last = uintptr(c)
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
