package manifest

import (
	"strings"
	"testing"
)

// Manifests as podctl writes and reads them: an image with isolators of
// each family appc knows, and the pod manifest prepare wrote for it.
const (
	imageSeed = `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/good",
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"},{"name":"version","value":"1.0"}],
"app":{"exec":["/bin/sh","-c","true"],"user":"0","group":"0","workingDirectory":"/",
"environment":[{"name":"FROM_IMAGE","value":"yes"}],
"mountPoints":[{"name":"data","path":"/data","readOnly":true}],
"ports":[{"name":"http","protocol":"tcp","port":80}],
"isolators":[{"name":"resource/memory","value":{"limit":"64M"}},
{"name":"resource/cpu","value":{"request":"250m","limit":"500m"}},
{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_BIND_SERVICE"]}},
{"name":"os/linux/seccomp-remove-set","value":{"set":["@appc.io/empty"],"errno":"EPERM"}},
{"name":"os/linux/no-new-privileges","value":true},
{"name":"os/linux/oom-score-adj","value":100},
{"name":"os/unix/sysctl","value":{"net.ipv4.ip_forward":"0"}}]},
"annotations":[{"name":"authors","value":"podctl tests"}]}`

	podSeed = `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"good","image":{"name":"example.com/good","id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"},{"name":"version","value":"1.0"}]},"app":{"exec":["/bin/sh","-c","exit 3"],"user":"0","group":"0","environment":[{"name":"X","value":"1"}],"isolators":[{"name":"resource/memory","value":{"limit":"64M"}},{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_BIND_SERVICE"]}}]},"annotations":[{"name":"podctl.io/rlimits","value":"nofile=1024:4096"},{"name":"podctl.io/oom-score-adj","value":"100"}]}],"volumes":[{"name":"data","kind":"host","source":"/srv","readOnly":true}],"isolators":null,"annotations":[{"name":"podctl.io/name","value":"web"}],"ports":null,"userLabels":{"a":"b"}}`
)

func TestParseGood(t *testing.T) {
	im, err := ParseImage([]byte(imageSeed))
	if err != nil {
		t.Fatalf("ParseImage: %v", err)
	}
	if im.Name != "example.com/good" || len(im.App.Isolators) != 7 {
		t.Errorf("ParseImage = %s with %d isolators", im.Name, len(im.App.Isolators))
	}
	pm, err := ParsePod([]byte(podSeed))
	if err != nil {
		t.Fatalf("ParsePod: %v", err)
	}
	if len(pm.Apps) != 1 || pm.Apps[0].Name != "good" || len(pm.Apps[0].App.Isolators) != 2 {
		t.Errorf("ParsePod = %+v", pm)
	}
}

func TestParseRefuses(t *testing.T) {
	app := func(isolators string) string {
		return `{"exec":["/bin/sh"],"user":"0","group":"0","isolators":` + isolators + `}`
	}
	image := func(app string) string {
		return `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","app":` + app + `}`
	}
	pod := func(rest string) string {
		return `{"acVersion":"0.8.11","acKind":"PodManifest",` + rest + `}`
	}
	podApp := func(app string) string {
		return pod(`"apps":[{"name":"a","image":{"id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0"},"app":` + app + `}]`)
	}
	for _, c := range []struct {
		name, doc, want string
		pod             bool
	}{
		{"no value", image(app(`[{"name":"resource/memory"}]`)), `app: isolator "resource/memory" has no value`, false},
		{"null value", image(app(`[{"name":"os/linux/no-new-privileges","value":null}]`)), `isolator "os/linux/no-new-privileges" has no value`, false},
		{"unknown, no value", image(app(`[{"name":"example.com/mine"}]`)), `isolator "example.com/mine" has no value`, false},
		{"key in capitals", image(app(`[{"name":"resource/memory","VALUE":null}]`)), "has no value", false},
		{"app key in capitals", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","APP":` + app(`[{"name":"resource/cpu"}]`) + `}`, "has no value", false},
		{"value then null", image(app(`[{"name":"resource/memory","value":{"limit":"1M"},"Value":null}]`)), "has no value", false},
		// encoding/json decodes a key given twice into the same slice:
		// the second list's isolator must not inherit the first's value.
		{"isolators twice", image(`{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[{"name":"resource/memory","value":{"limit":"1M"}}],"isolators":[{"name":"resource/memory"}]}`), "has no value", false},
		{"second isolator", image(app(`[{"name":"resource/cpu","value":{"limit":"1"}},{"name":"resource/memory"}]`)), `isolator "resource/memory" has no value`, false},
		{"unnamed", image(app(`[{"value":null}]`)), "isolator #1 has no value", false},
		{"unknown with value", image(app(`[{"name":"example.com/mine","value":1}]`)), "invalid isolator", false},
		{"quantity exponent", image(app(`[{"name":"resource/memory","value":{"limit":"1e-999999999"}}]`)), `isolator "resource/memory": limit: quantity "1e-999999999" has an exponent beyond ±30`, false},
		{"quantity exponent unquoted", image(app(`[{"name":"resource/cpu","value":{"Request":1E+99999}}]`)), "request: quantity \"1E+99999\" has an exponent", false},
		{"quantity exponent wraps", image(app(`[{"name":"resource/cpu","value":{"limit":"1e4294967297"}}]`)), "has an exponent beyond", false},
		{"quantity long", image(app(`[{"name":"resource/memory","value":{"limit":"0.` + strings.Repeat("0", 100) + `1"}}]`)), "quantity of 103 characters, more than the 64 allowed", false},
		{"pod quantity", podApp(app(`[{"name":"resource/memory","value":{"limit":"1e-99999999"}}]`)), `app "a": isolator "resource/memory": limit: quantity`, true},
		{"syntax", `{"acKind":`, "unexpected end of JSON input", false},
		{"syntax in the middle", "{\"acKind\":\n\"ImageManifest\",,}", "invalid character ',' looking for beginning of object key string (at byte 28)", false},
		{"pod app no value", podApp(app(`[{"name":"resource/memory"}]`)), `app "a": isolator "resource/memory" has no value`, true},
		{"pod app unnamed", pod(`"apps":[{"app":` + app(`[{"name":"resource/memory"}]`) + `}]`), `app #1: isolator "resource/memory" has no value`, true},
		{"pod isolator no value", pod(`"isolators":[{"name":"resource/cpu"}]`), `pod: isolator "resource/cpu" has no value`, true},
		{"pod isolator unknown", pod(`"isolators":[{"name":"example.com/mine","value":{}}]`), `pod: isolator "example.com/mine" is not one podctl knows`, true},
		{"pod app without app", pod(`"apps":[{"name":"a","image":{"id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0"}}]`), `app "a" has no app section`, true},
		{"pod apps twice", pod(`"apps":[{"name":"a","app":` + app(`[{"name":"resource/cpu","value":{"limit":"1"}}]`) + `}],"apps":[{"name":"a","app":` + app(`[{"name":"resource/cpu"}]`) + `}]`), "has no value", true},
		{"pod app without name", pod(`"apps":[{"image":{"id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0"},"app":` + app(`[]`) + `}]`), "app #1 has no name", true},
		{"pod app without image", pod(`"apps":[{"name":"a","app":` + app(`[]`) + `}]`), `app "a" names no image ID`, true},
		{"pod app name a path", pod(`"apps":[{"name":"../a","app":` + app(`[]`) + `}]`), "ACName", true},
		{"pod without version", `{"acKind":"PodManifest"}`, "acVersion must be set", true},
		{"pod kind", `{"acVersion":"0.8.11","acKind":"ImageManifest"}`, "PodManifest", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.pod {
				_, err = ParsePod([]byte(c.doc))
			} else {
				_, err = ParseImage([]byte(c.doc))
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}
