package kit

import (
	"fmt"
	"slices"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/seccomp/custom"
)

// readConfinement gives s the app's own capabilities, seccomp filter and
// no_new_privs, from its isolators and annotations in the pod manifest.
func readConfinement(s *AppSpec, ra *schema.RuntimeApp) error {
	caps, ok, err := stage1.AppCapabilities(ra.App.Isolators)
	if err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	if ok {
		s.Capabilities = stage1.CapabilityNames(caps)
	}
	own, err := AppSeccomp(ra.App.Isolators)
	if err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	if v, ok := ra.Annotations.Get(lifecycle.AnnotationSeccomp); ok {
		if v != custom.ModeUnconfined {
			return fmt.Errorf("app %s: %s %q is not %s", s.Name, lifecycle.AnnotationSeccomp, v, custom.ModeUnconfined)
		}
		own = &custom.Custom{Mode: custom.ModeUnconfined}
	}
	s.Seccomp = own
	for _, iso := range ra.App.Isolators {
		if v, ok := iso.Value().(*types.LinuxNoNewPrivileges); ok && !bool(*v) {
			s.NewPrivileges = true
		}
	}
	return nil
}

// AppSeccomp is the app's own seccomp filter from its appc isolators
// os/linux/seccomp-retain-set and os/linux/seccomp-remove-set, nil
// without either.
func AppSeccomp(isos types.Isolators) (*custom.Custom, error) {
	var out *custom.Custom
	for _, iso := range isos {
		var set types.LinuxSeccompSet
		mode := custom.ModeRetain
		switch v := iso.Value().(type) {
		case *types.LinuxSeccompRetainSet:
			set = v
		case *types.LinuxSeccompRemoveSet:
			set, mode = v, custom.ModeRemove
		default:
			continue
		}
		if out != nil {
			return nil, fmt.Errorf("isolator %s: the app has another seccomp set: give one", iso.Name)
		}
		out = &custom.Custom{Mode: mode, Errno: string(set.Errno())}
		for _, c := range set.Set() {
			out.Syscalls = append(out.Syscalls, string(c))
		}
		if err := out.Check(); err != nil {
			return nil, fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
	}
	return out, nil
}

// CapabilitySet is the set of s's capabilities.
func (s *AppSpec) CapabilitySet() ([]capability.Cap, error) {
	if s.Capabilities == nil {
		return stage1.DefaultCapabilities, nil
	}
	caps, err := stage1.ParseCapabilities(s.Capabilities)
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
			return fmt.Errorf("raising ambient capability %s: %w", stage1.CapabilityName(c), err)
		}
	}
	return nil
}

// HelperCapabilities are the capabilities the exec helper of s needs in
// its bounding set, to execute with them and become the app: the app's
// own, and those to drop the rest and change its user (CAP_SETPCAP,
// CAP_SETUID, CAP_SETGID), and CAP_SYS_ADMIN to install a seccomp filter
// without no_new_privs.
func (s *AppSpec) HelperCapabilities() ([]capability.Cap, error) {
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

// RetainedBeyondDefault are the capabilities some app of specs has that
// the default ones do not include, sorted.
func RetainedBeyondDefault(specs []AppSpec) []string {
	var out []string
	for i := range specs {
		caps, err := specs[i].CapabilitySet()
		if err != nil {
			continue
		}
		for _, c := range caps {
			n := stage1.CapabilityName(c)
			if !slices.Contains(stage1.DefaultCapabilities, c) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}
