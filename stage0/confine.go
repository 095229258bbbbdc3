package stage0

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/stage1"
	"podctl/stage1/kit"
	"podctl/stage1/seccomp/custom"
)

// capsIsolators and seccompIsolators are the appc isolators an app's
// --caps-* and --seccomp replace.
var (
	capsIsolators    = []types.ACIdentifier{types.LinuxCapabilitiesRetainSetName, types.LinuxCapabilitiesRevokeSetName}
	seccompIsolators = []types.ACIdentifier{types.LinuxSeccompRetainSetName, types.LinuxSeccompRemoveSetName}
)

// confineApp gives app the capabilities, seccomp filter and no_new_privs
// of ao, as appc isolators replacing the image's, and refuses an image
// whose own isolators name unknown capabilities or system calls. An
// image's no_new_privs isolator is dropped: only --no-new-privileges=false
// leaves it unset. --seccomp=unconfined has no isolator: runtimeApp
// writes it as an annotation.
func confineApp(m *schema.ImageManifest, ao *AppOptions, app *types.App) error {
	app.Isolators = removeIsolators(app.Isolators, []types.ACIdentifier{types.LinuxNoNewPrivilegesName})
	if err := replaceCaps(ao, app); err != nil {
		return err
	}
	if ao.Seccomp != nil {
		app.Isolators = removeIsolators(app.Isolators, seccompIsolators)
		if err := addSeccomp(ao.Seccomp, app); err != nil {
			return err
		}
	}
	if ao.NoNewPrivileges != nil && !*ao.NoNewPrivileges {
		var iso types.Isolator
		if err := json.Unmarshal([]byte(`{"name":"`+types.LinuxNoNewPrivilegesName+`","value":false}`), &iso); err != nil {
			return fmt.Errorf("writing the no_new_privs isolator: %w", err)
		}
		app.Isolators = append(app.Isolators, iso)
	}
	if _, _, err := stage1.AppCapabilities(app.Isolators); err != nil {
		return errdefs.New(ErrUsage, "image %s: %v", m.Name, err)
	}
	if _, err := kit.AppSeccomp(app.Isolators); err != nil {
		return errdefs.New(ErrUsage, "image %s: %v", m.Name, err)
	}
	return nil
}

// replaceCaps puts ao's --caps-retain or --caps-remove in place of the
// image's capability isolators.
func replaceCaps(ao *AppOptions, app *types.App) error {
	if ao.CapsRetain == nil && ao.CapsRemove == nil {
		return nil
	}
	app.Isolators = removeIsolators(app.Isolators, capsIsolators)
	var iso *types.Isolator
	var err error
	if ao.CapsRetain != nil {
		var set *types.LinuxCapabilitiesRetainSet
		if set, err = types.NewLinuxCapabilitiesRetainSet(stage1.CapabilityNames(ao.CapsRetain)...); err == nil {
			iso, err = set.AsIsolator()
		}
	} else {
		var set *types.LinuxCapabilitiesRevokeSet
		if set, err = types.NewLinuxCapabilitiesRevokeSet(stage1.CapabilityNames(ao.CapsRemove)...); err == nil {
			iso, err = set.AsIsolator()
		}
	}
	if err != nil {
		return errdefs.New(ErrUsage, "capabilities: %v", err)
	}
	app.Isolators = append(app.Isolators, *iso)
	return nil
}

// addSeccomp adds c, unless unconfined, as an appc seccomp isolator.
func addSeccomp(c *custom.Custom, app *types.App) error {
	var iso *types.Isolator
	var err error
	switch c.Mode {
	case custom.ModeUnconfined:
		return nil
	case custom.ModeRetain:
		var set *types.LinuxSeccompRetainSet
		if set, err = types.NewLinuxSeccompRetainSet(c.Errno, c.Syscalls...); err == nil {
			iso, err = set.AsIsolator()
		}
	default:
		var set *types.LinuxSeccompRemoveSet
		if set, err = types.NewLinuxSeccompRemoveSet(c.Errno, c.Syscalls...); err == nil {
			iso, err = set.AsIsolator()
		}
	}
	if err != nil {
		return errdefs.New(ErrUsage, "--seccomp: %v", err)
	}
	app.Isolators = append(app.Isolators, *iso)
	return nil
}

// removeIsolators returns isos without those named in names, in a new
// slice: isos may be an image manifest's, which others read.
func removeIsolators(isos types.Isolators, names []types.ACIdentifier) types.Isolators {
	var out types.Isolators
	for _, iso := range isos {
		if !slices.Contains(names, iso.Name) {
			out = append(out, iso)
		}
	}
	return out
}
