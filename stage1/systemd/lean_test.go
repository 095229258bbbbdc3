package systemd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

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
