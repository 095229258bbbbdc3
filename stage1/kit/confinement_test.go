package kit

import (
	"slices"
	"strings"
	"testing"

	"podctl/internal/manifest"
	"podctl/stage1/appexec"
	"podctl/stage1/seccomp/custom"
)

// confinedSpec reads the confinement of an app with isolators isos.
func confinedSpec(t *testing.T, isos, seccompAnnotation string) (*AppSpec, error) {
	t.Helper()
	m, err := manifest.ParsePod([]byte(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"app",` +
		`"image":{"id":"sha512-` + strings.Repeat("0", 128) + `"},"app":{"exec":["/x"],"user":"0","group":"0","isolators":` + isos + `}}]}`))
	if err != nil {
		t.Fatalf("pod manifest: %v", err)
	}
	if seccompAnnotation != "" {
		m.Apps[0].Annotations.Set("podctl.io/seccomp", seccompAnnotation)
	}
	s := &AppSpec{Spec: appexec.Spec{Name: "app"}}
	return s, readConfinement(s, &m.Apps[0])
}

func TestReadConfinement(t *testing.T) {
	s, err := confinedSpec(t, `[]`, "")
	if err != nil || s.Capabilities != nil || s.Seccomp != nil || s.NewPrivileges {
		t.Errorf("no isolators: %+v, %v; want the defaults", s, err)
	}
	s, err = confinedSpec(t, `[{"name":"os/linux/capabilities-retain-set","value":{"set":["net_bind_service"]}},`+
		`{"name":"os/linux/seccomp-remove-set","value":{"set":["mkdir"],"errno":"ENOTSUP"}},`+
		`{"name":"os/linux/no-new-privileges","value":false}]`, "")
	if err != nil || !slices.Equal(s.Capabilities, []string{"CAP_NET_BIND_SERVICE"}) || !s.NewPrivileges ||
		s.Seccomp == nil || s.Seccomp.String() != "mode=remove,errno=ENOTSUP,mkdir" {
		t.Errorf("isolators: %+v %+v, %v", s, s.Seccomp, err)
	}
	if s, err = confinedSpec(t, `[]`, "unconfined"); err != nil || s.Seccomp == nil || s.Seccomp.Mode != custom.ModeUnconfined {
		t.Errorf("unconfined annotation: %+v, %v", s, err)
	}
	for _, bad := range []struct{ isos, annotation string }{
		{`[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_BOGUS"]}}]`, ""},
		{`[{"name":"os/linux/seccomp-retain-set","value":{"set":["nosuchcall"]}}]`, ""},
		{`[]`, "loose"},
	} {
		if _, err := confinedSpec(t, bad.isos, bad.annotation); err == nil {
			t.Errorf("%s %q taken", bad.isos, bad.annotation)
		}
	}
}
