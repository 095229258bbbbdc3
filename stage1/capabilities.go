package stage1

import (
	"fmt"
	"podctl/stage1/appexec"
	"slices"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
)

// The capability names and the default set are the exec helper's
// (appexec), which sets them; stage0 and stage1 read and print them.
var (
	DefaultCapabilities = appexec.DefaultCapabilities
	ParseCapability     = appexec.ParseCapability
	ParseCapabilities   = appexec.ParseCapabilities
	CapabilityName      = appexec.CapabilityName
	CapabilityNames     = appexec.CapabilityNames
)

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
