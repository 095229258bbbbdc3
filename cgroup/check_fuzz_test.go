package cgroup

import (
	"path/filepath"
	"testing"
)

// FuzzIsCleanAbs: a recorded folder is outside input, and isCleanAbs
// says of it what filepath.IsAbs and filepath.Clean say together.
func FuzzIsCleanAbs(f *testing.F) {
	for _, seed := range []string{"", "/", "//", "/a", "/a/", "/a//b", "/a/./b", "/a/../b", "/a/..", "/.", "/..", "a/b", "/a/b.", "/a/.b", "/a/..b", "/sys/fs/cgroup/unified/podctl-x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := filepath.IsAbs(p) && filepath.Clean(p) == p
		if got := isCleanAbs(p); got != want {
			t.Fatalf("isCleanAbs(%q) = %v, want %v", p, got, want)
		}
	})
}
