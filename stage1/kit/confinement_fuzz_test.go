package kit

import (
	"strings"
	"testing"

	"podctl/internal/manifest"
	"podctl/stage1"
	"podctl/stage1/appexec"
)

// FuzzReadConfinement fuzzes the capability, seccomp and no_new_privs
// isolators and annotation of a pod manifest's app as stage1 reads them
// back: no panic, a refusal in one line, and what it takes is a set of
// known capabilities and a filter that checks.
func FuzzReadConfinement(f *testing.F) {
	for _, s := range []string{
		`[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_BIND_SERVICE"]}}]`,
		`[{"name":"os/linux/capabilities-remove-set","value":{"set":["chown","CAP_BOGUS"]}}]`,
		`[{"name":"os/linux/seccomp-retain-set","value":{"set":["read"],"errno":"ENOSYS"}}]`,
		`[{"name":"os/linux/seccomp-remove-set","value":{"set":["mkdir"]}},{"name":"os/linux/seccomp-retain-set","value":{"set":["read"]}}]`,
		`[{"name":"os/linux/no-new-privileges","value":false}]`,
	} {
		f.Add(s, "")
		f.Add(s, "unconfined")
	}
	f.Fuzz(func(t *testing.T, isos, seccompAnnotation string) {
		// Read as stage1 reads a pod manifest, whose checks come first.
		m, err := manifest.ParsePod([]byte(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"app",` +
			`"image":{"id":"sha512-` + strings.Repeat("0", 128) + `"},"app":{"exec":["/x"],"user":"0","group":"0","isolators":` + isos + `}}]}`))
		if err != nil || len(m.Apps) != 1 || m.Apps[0].App == nil {
			return
		}
		ra := &m.Apps[0]
		if seccompAnnotation != "" {
			ra.Annotations.Set("podctl.io/seccomp", seccompAnnotation)
		}
		s := &AppSpec{Spec: appexec.Spec{Name: "app"}}
		if err := readConfinement(s, ra); err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") && !strings.ContainsAny(isos+seccompAnnotation, "\r\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if _, err := stage1.ParseCapabilities(s.Capabilities); err != nil {
			t.Fatalf("took capabilities %v: %v", s.Capabilities, err)
		}
		if s.Seccomp != nil {
			if err := s.Seccomp.Check(); err != nil {
				t.Fatalf("took filter %+v: %v", s.Seccomp, err)
			}
		}
	})
}
