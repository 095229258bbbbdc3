package stage0

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
)

// What podctl applies of an image's app (appc's app fields): exec, user,
// group, supplementaryGIDs, workingDirectory, environment, mountPoints
// (joinMountPoints), eventHandlers (the only ones appc allows: pre-start
// and post-stop), ports (forwarded with --port; socket-activated ones are
// passed to the app), and the isolators of appliedIsolators. Image
// dependencies and path whitelists are refused at import (store). The
// rest is named by unapplied, and prepare says it in one line per image.

// appliedIsolators are the appc isolators stage1 applies, by name.
var appliedIsolators = map[types.ACIdentifier]bool{
	types.ResourceMemoryName:             true,
	types.ResourceCPUName:                true,
	types.LinuxCapabilitiesRetainSetName: true,
	types.LinuxCapabilitiesRevokeSetName: true,
	types.LinuxSeccompRetainSetName:      true,
	types.LinuxSeccompRemoveSetName:      true,
	types.LinuxNoNewPrivilegesName:       true,
	types.LinuxOOMScoreAdjName:           true,
}

// unapplied names what of image manifest m podctl does not apply to its
// app, in the manifest's order, or nothing.
func unapplied(m *schema.ImageManifest) []string {
	app := m.App
	if app == nil {
		return nil
	}
	var out []string
	for _, iso := range app.Isolators {
		switch {
		case !appliedIsolators[iso.Name]:
			out = append(out, "isolator "+iso.Name.String())
		case iso.Name == types.LinuxNoNewPrivilegesName && noNewPrivilegesOff(iso):
			// The default is on; only --no-new-privileges=false turns it off.
			out = append(out, "isolator "+iso.Name.String()+" false (give --no-new-privileges=false)")
		case iso.Name == types.ResourceMemoryName || iso.Name == types.ResourceCPUName:
			if r, ok := iso.Value().(types.Resource); ok && r.Limit() == nil {
				out = append(out, "isolator "+iso.Name.String()+" request (podctl applies limits only)")
			}
		}
	}
	// appc itself refuses event handlers of other names than pre-start
	// and post-stop, and two of one name, when the image is imported.
	return out
}

// checkHandlers refuses an image event handler with no command, which
// appc lets pass, before a pod exists.
func (pl *plan) checkHandlers() error {
	for _, a := range pl.apps {
		for _, h := range a.app.EventHandlers {
			if len(h.Exec) == 0 {
				return errdefs.New(ErrUsage, "image %s: its %s event handler has no command (exec): fix the image", a.manifest.Name, h.Name)
			}
		}
	}
	return nil
}

// noNewPrivilegesOff reports whether a no-new-privileges isolator says
// false.
func noNewPrivilegesOff(iso types.Isolator) bool {
	if iso.ValueRaw == nil {
		return false
	}
	var on bool
	return json.Unmarshal(*iso.ValueRaw, &on) == nil && !on
}

// warnUnapplied says, in one line per image, what of its app podctl does
// not apply.
func (pl *plan) warnUnapplied(c Config) {
	seen := map[string]bool{}
	for _, a := range pl.apps {
		if seen[a.id] {
			continue
		}
		seen[a.id] = true
		if list := unapplied(a.manifest); len(list) > 0 {
			c.warn(fmt.Errorf("warning: image %s: podctl does not apply %s: ignored", a.manifest.Name, strings.Join(list, ", ")))
		}
	}
}
