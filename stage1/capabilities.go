package stage1

import (
	"fmt"
	"slices"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
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

// AppCapabilities are the capabilities an app's appc isolators give it:
// exactly those of os/linux/capabilities-retain-set, or the default ones
// but those of os/linux/capabilities-remove-set. Without either isolator
// it returns nil, false: the default capabilities. With both, the
// removed ones leave the retained ones.
func AppCapabilities(isos types.Isolators) ([]capability.Cap, bool, error) {
	var retain, remove []capability.Cap
	var haveRetain, haveRemove bool
	for _, iso := range isos {
		var set types.LinuxCapabilitiesSet
		switch v := iso.Value().(type) {
		case *types.LinuxCapabilitiesRetainSet:
			set, haveRetain = v, true
		case *types.LinuxCapabilitiesRevokeSet:
			set, haveRemove = v, true
		default:
			continue
		}
		var names []string
		for _, c := range set.Set() {
			names = append(names, string(c))
		}
		caps, err := ParseCapabilities(names)
		if err != nil {
			return nil, false, fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
		if _, ok := set.(*types.LinuxCapabilitiesRetainSet); ok {
			retain = append(retain, caps...)
		} else {
			remove = append(remove, caps...)
		}
	}
	if !haveRetain && !haveRemove {
		return nil, false, nil
	}
	base := DefaultCapabilities
	if haveRetain {
		base = retain
	}
	out := []capability.Cap{}
	for _, c := range base {
		if !slices.Contains(remove, c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, true, nil
}
