package cli

import (
	"reflect"
	"strings"
	"testing"

	"podctl/stage0"
)

func TestParseApps(t *testing.T) {
	def := stage0.AppOptions{Exec: "/bin/default", Env: []string{"POD=1"}, Mounts: []string{"volume=v,target=/v"}}
	apps, err := parseApps(def, strings.Fields(
		"img-a --name a --environment A=1 -- one -- two --- img-b --exec /bin/b --mount volume=w,target=/w --- img-c"))
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 3 {
		t.Fatalf("%d apps, want 3: %+v", len(apps), apps)
	}
	a, b, c := apps[0], apps[1], apps[2]
	if a.Image != "img-a" || a.Name != "a" || a.Exec != "/bin/default" {
		t.Errorf("app a: %+v", a)
	}
	// Everything after the first "--" up to "---" is the app's, "--" too.
	if !reflect.DeepEqual(a.Args, []string{"one", "--", "two"}) {
		t.Errorf("app a args %q", a.Args)
	}
	if !reflect.DeepEqual(a.Env, []string{"POD=1", "A=1"}) {
		t.Errorf("app a env %q: want the pod's first, then its own", a.Env)
	}
	if b.Image != "img-b" || b.Exec != "/bin/b" || b.Name != "" || b.Args != nil {
		t.Errorf("app b: %+v", b)
	}
	if !reflect.DeepEqual(b.Mounts, []string{"volume=v,target=/v", "volume=w,target=/w"}) {
		t.Errorf("app b mounts %q", b.Mounts)
	}
	if c.Image != "img-c" || !reflect.DeepEqual(c.Env, []string{"POD=1"}) {
		t.Errorf("app c: %+v", c)
	}
	// The defaults were not changed by the apps.
	if !reflect.DeepEqual(def.Env, []string{"POD=1"}) {
		t.Errorf("defaults changed: %+v", def)
	}
}

func TestParseAppsRefuses(t *testing.T) {
	for _, args := range []string{
		"",
		"img stray",
		"img --no-such-flag",
		"img --exec",
	} {
		if _, err := parseApps(stage0.AppOptions{}, strings.Fields(args)); err == nil {
			t.Errorf("parseApps(%q) succeeded", args)
		}
	}
}
