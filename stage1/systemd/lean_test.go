package systemd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"podctl/stage1/appexec"
	"podctl/stage1/kit"
	"podctl/stage1/seccomp/custom"
)

// nspawn's filter is left out only when every app loads podctl's default
// filter, or the default with more calls refused.
func TestNspawnFilter(t *testing.T) {
	app := func(c *custom.Custom) kit.AppSpec {
		return kit.AppSpec{Spec: appexec.Spec{Name: "a", Confined: true, Seccomp: c}}
	}
	for _, c := range []struct {
		name    string
		specs   []kit.AppSpec
		mutable bool
		want    bool
	}{
		{"default", []kit.AppSpec{app(nil)}, false, false},
		{"remove", []kit.AppSpec{app(&custom.Custom{Mode: custom.ModeRemove, Syscalls: []string{"mkdir"}})}, false, false},
		{"retain", []kit.AppSpec{app(&custom.Custom{Mode: custom.ModeRetain, Syscalls: []string{"read"}})}, false, true},
		{"unconfined", []kit.AppSpec{app(&custom.Custom{Mode: custom.ModeUnconfined})}, false, true},
		{"one of two unconfined", []kit.AppSpec{app(nil), app(&custom.Custom{Mode: custom.ModeUnconfined})}, false, true},
		{"not confined", []kit.AppSpec{{Spec: appexec.Spec{Name: "a"}}}, false, true},
		{"mutable", []kit.AppSpec{app(nil)}, true, true},
		{"mutable, no app", nil, true, true},
	} {
		if got := nspawnFilter(c.specs, c.mutable); got != c.want {
			t.Errorf("%s: nspawnFilter = %v, want %v", c.name, got, c.want)
		}
		off := slices.Contains(nspawnEnv(c.specs, c.mutable), "SYSTEMD_SECCOMP=0")
		if off == c.want {
			t.Errorf("%s: nspawn's environment has SYSTEMD_SECCOMP=0: %v, want %v", c.name, off, !c.want)
		}
	}
}

// Every generator of every folder systemd looks in is masked once, by
// name; a folder that is not there is skipped.
func TestMaskGenerators(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for path, names := range map[string][]string{a: {"x-generator", "y-generator"}, b: {"y-generator", "z-generator"}} {
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(path, n), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer func(old []string) { generatorDirs = old }(generatorDirs)
	generatorDirs = []string{a, filepath.Join(dir, "missing"), b}
	root := filepath.Join(dir, "root")
	if err := maskGenerators(root); err != nil {
		t.Fatal(err)
	}
	masks := filepath.Join(root, "etc", "systemd", "system-generators")
	entries, err := os.ReadDir(masks)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(masks, e.Name()))
		if err != nil || target != "/dev/null" {
			t.Errorf("%s is not a link to /dev/null: %q %v", e.Name(), target, err)
		}
		got = append(got, e.Name())
	}
	if want := []string{"x-generator", "y-generator", "z-generator"}; !slices.Equal(got, want) {
		t.Errorf("masked %v, want %v", got, want)
	}
	// A pod booted again (restarted stage1 root) masks them again.
	if err := maskGenerators(root); err != nil {
		t.Fatalf("masking a second time: %v", err)
	}
}
