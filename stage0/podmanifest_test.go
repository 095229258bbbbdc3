package stage0

import (
	"strings"
	"testing"
)

const testPodManifest = `{"acKind":"PodManifest","acVersion":"0.8.11",
"apps":[{"name":"a","image":{"id":"sha512-0123456789abcdef"},"mounts":[{"volume":"v","path":"/v"}]}],
"volumes":[{"name":"v","kind":"empty"}]}`

func TestParsePodManifest(t *testing.T) {
	pm, err := ParsePodManifest(strings.NewReader(testPodManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Apps) != 1 || pm.Apps[0].Name != "a" {
		t.Errorf("apps %+v", pm.Apps)
	}
	for want, bad := range map[string]string{
		"not an appc pod manifest": `{"acKind":"ImageManifest"`,
		"no apps":                  `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[]}`,
		"only podctl sets":         strings.Replace(testPodManifest, `"volumes"`, `"annotations":[{"name":"podctl.io/private-users","value":"x"}],"volumes"`, 1),
		"lack":                     strings.Replace(testPodManifest, `"volume":"v"`, `"volume":"w"`, 1),
		"names no image":           `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{}}]}`,
		"larger than":              testPodManifest + strings.Repeat(" ", maxPodManifest),
	} {
		_, err := ParsePodManifest(strings.NewReader(bad))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60q: %v, want an error saying %q", bad, err, want)
		}
	}
}

func FuzzParsePodManifest(f *testing.F) {
	f.Add(testPodManifest)
	f.Add(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"name":"example.com/x"},"app":{"exec":["/x"],"user":"/etc","group":"0","supplementaryGIDs":[1]}}],"ports":[{"name":"p","hostPort":80}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		pm, err := ParsePodManifest(strings.NewReader(s))
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		if len(pm.Apps) == 0 {
			t.Fatalf("%q: a manifest without apps was taken", s)
		}
		for _, ra := range pm.Apps {
			if checkOwnAnnotations("", ra.Annotations) != nil {
				t.Fatalf("%q: podctl's annotation taken", s)
			}
		}
	})
}
