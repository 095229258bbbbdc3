package lifecycle

import (
	"path/filepath"
	"testing"
)

// TestPlainName checks that a name plainName passes is one that joining
// without cleaning gives as filepath.Join would.
func TestPlainName(t *testing.T) {
	for _, c := range []struct {
		name  string
		plain bool
	}{
		{"pod", true},
		{"apps/busybox/exit", true},
		{"stage1/networks.json", true},
		{"", false},
		{"/pod", false},
		{"apps/", false},
		{"apps//exit", false},
		{"./pod", false},
		{"apps/../pod", false},
		{"apps/..", false},
		{"..", false},
		{".", false},
		{"a/.b/..c", true},
	} {
		if got := plainName(c.name); got != c.plain {
			t.Errorf("plainName(%q) = %v, want %v", c.name, got, c.plain)
		}
		if c.plain && filepath.Join("/d/pods/run/u", c.name) != "/d/pods/run/u/"+c.name {
			t.Errorf("%q is plain but filepath.Join cleans it", c.name)
		}
	}
}

// TestPathAcrossDataDirs checks a pod's path when the cached folder
// paths are of another data directory, and for an unclean one.
func TestPathAcrossDataDirs(t *testing.T) {
	for _, dir := range []string{"/var/lib/podctl", "/tmp/x/", "/tmp/./y", "/var/lib/podctl"} {
		p := &Pod{UUID: "3f0b9c1e-8c1d-4b7a-9a55-0c6d6f0e2f11", dataDir: dir, folder: runDir}
		want := filepath.Join(dir, "pods", "run", p.UUID)
		if got := p.Path(); got != want {
			t.Errorf("Path() of a pod in %q = %q, want %q", dir, got, want)
		}
		if got, want := p.fileErrPath("apps/a/exit"), filepath.Join(want, "apps/a/exit"); got != want {
			t.Errorf("fileErrPath = %q, want %q", got, want)
		}
	}
}
