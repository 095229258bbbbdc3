package kit

import (
	"fmt"
	"slices"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

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
