package stage0

import (
	"podctl/internal/rootless"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
)

func TestParseEnvFile(t *testing.T) {
	vars, err := ParseEnvFile(strings.NewReader("# a comment\n\nA=1\n  B=two words \r\nC=\n   # indented comment\nD=x=y\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []EnvVar{{"A", "1"}, {"B", "two words "}, {"C", ""}, {"D", "x=y"}}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("got %q, want %q", vars, want)
	}
	for _, bad := range []string{"A=1\nnot a setting\n", "=1\n", "PODCTL_POD_UUID=x\n", "A=\x00\n"} {
		if _, err := ParseEnvFile(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseEnvFile(%q) succeeded", bad)
		}
	}
	if _, err := ParseEnvFile(strings.NewReader("A=" + strings.Repeat("x", maxEnvFile))); err == nil {
		t.Error("an oversized file was read")
	}
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add("A=1\n# c\nB=2\n")
	f.Add("=\n\x00")
	f.Fuzz(func(t *testing.T, s string) {
		vars, err := ParseEnvFile(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, v := range vars {
			if v.Name == "" || strings.Contains(v.Name, "=") || strings.ContainsAny(v.Value, "\x00\n") {
				t.Fatalf("%q read as %q", s, v)
			}
		}
	})
}

func TestInheritEnv(t *testing.T) {
	vars := HostEnv([]string{"HOST=h", "IMG=from-host", "PODCTL_POD_UUID=x", "junk", "=x", DetachEnv + "=3", rootless.EnvInside + "=1"})
	if !reflect.DeepEqual(vars, []EnvVar{{"HOST", "h"}, {"IMG", "from-host"}}) {
		t.Fatalf("HostEnv: %q", vars)
	}
	app := types.App{Environment: types.Environment{{Name: "IMG", Value: "image"}}}
	inheritEnv(&app, vars)
	if v, _ := app.Environment.Get("IMG"); v != "image" {
		t.Errorf("the host's IMG replaced the image's: %q", v)
	}
	if v, _ := app.Environment.Get("HOST"); v != "h" {
		t.Errorf("HOST not inherited: %q", v)
	}
}
