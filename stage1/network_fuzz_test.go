package stage1

import (
	"strings"
	"testing"

	"github.com/appc/spec/schema"

	"podctl/lifecycle"
)

// FuzzReadNetwork reads any podctl.io/network annotation as stage1 does:
// no panic, a refusal in one line, and what is taken has a mode and a
// valid host name, and reads back the same from its own settings.
func FuzzReadNetwork(f *testing.F) {
	for _, s := range []string{
		`{"net":["default"]}`, `{"net":["none"],"hostname":"web-1"}`, `{"net":["lan:IP=10.48.0.5","default"]}`,
		`{"dns":["10.0.0.53"],"dns_search":["example.test"],"dns_options":["ndots:2"],"hosts_entries":["10.1.2.3=db"]}`,
		`{"net":["host","lan"]}`, `{"hostname":"-bad"}`, `{"hosts_entries":["x"]}`, `{`, `[]`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m := schema.BlankPodManifest()
		m.Annotations.Set(lifecycle.AnnotationNetwork, v)
		n, err := ReadNetwork(m, "0a11e000-0000-4000-8000-000000000000")
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n") && !strings.ContainsAny(v, "\n") {
				t.Fatalf("%q: error %q is not one line", v, err)
			}
			return
		}
		if n.Spec.Mode == "" || CheckHostname(n.Hostname) != nil {
			t.Fatalf("%q read as %+v", v, n)
		}
		if n.Private() != (n.Spec.Mode == "default" || n.Spec.Mode == "named") {
			t.Fatalf("%q: Private() disagrees with mode %q", v, n.Spec.Mode)
		}
	})
}
