package podfile

import (
	"strings"
	"testing"
)

// FuzzParse: a pod file is outside input. Whatever the bytes, Parse
// returns a pod with apps and images or a one-line error, and never
// panics.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"apps: [{image: x, args: [a], env: {A: b}}]\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: a, image: x, ports: [{containerPort: 1, hostPort: 2}]}]\n",
		`{"acKind": "PodManifest", "apps": [{"image": {"name": "x"}, "app": {"exec": ["/a"]}}]}`,
		"apps: [\n",
		"&a [*a]",
		"a: &a {b: *a}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("/f/a.pod", b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if len(p.Apps) == 0 || p.Name == "" {
			t.Fatalf("parsed a pod without apps or name: %+v", p)
		}
		for _, a := range p.Apps {
			if a.Image == "" {
				t.Fatalf("an app without an image: %+v", p)
			}
		}
	})
}
