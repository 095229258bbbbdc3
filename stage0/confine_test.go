package stage0

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"

	"podctl/stage1"
	"podctl/stage1/seccomp/custom"
)

func imageWithIsolators(t *testing.T, isos string) *schema.ImageManifest {
	t.Helper()
	var m schema.ImageManifest
	js := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","app":{"exec":["/x"],"user":"0","group":"0","isolators":` + isos + `}}`
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// A flag replaces the image's isolators of its kind; without one the
// image's are kept, and checked.
func TestConfineApp(t *testing.T) {
	m := imageWithIsolators(t, `[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_SYS_ADMIN"]}},`+
		`{"name":"os/linux/seccomp-remove-set","value":{"set":["mkdir"]}},{"name":"os/linux/no-new-privileges","value":false}]`)
	app, err := effectiveApp(m, &AppOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	caps, ok, _ := stage1.AppCapabilities(app.Isolators)
	if !ok || len(caps) != 1 || caps[0] != capability.CAP_SYS_ADMIN {
		t.Errorf("image's retain set not kept: %v", caps)
	}
	if app.Isolators.GetByName(types.LinuxNoNewPrivilegesName) != nil {
		t.Error("the image's no-new-privileges isolator was kept")
	}
	no := false
	ao := &AppOptions{CapsRemove: []capability.Cap{capability.CAP_CHOWN}, Seccomp: &custom.Custom{Mode: custom.ModeRetain, Syscalls: []string{"read"}}, NoNewPrivileges: &no}
	app, err = effectiveApp(m, ao, nil)
	if err != nil {
		t.Fatal(err)
	}
	caps, _, _ = stage1.AppCapabilities(app.Isolators)
	if len(caps) != len(stage1.DefaultCapabilities)-1 {
		t.Errorf("--caps-remove did not replace the image's retain set: %v", caps)
	}
	if app.Isolators.GetByName(types.LinuxSeccompRemoveSetName) != nil || app.Isolators.GetByName(types.LinuxSeccompRetainSetName) == nil {
		t.Errorf("--seccomp did not replace the image's set: %+v", app.Isolators)
	}
	if iso := app.Isolators.GetByName(types.LinuxNoNewPrivilegesName); iso == nil {
		t.Error("--no-new-privileges=false left no isolator")
	}
	bad := imageWithIsolators(t, `[{"name":"os/linux/capabilities-remove-set","value":{"set":["CAP_BOGUS"]}}]`)
	if _, err := effectiveApp(bad, &AppOptions{}, nil); !errors.Is(err, ErrUsage) {
		t.Errorf("image with an unknown capability: %v, want a usage error", err)
	}
}
