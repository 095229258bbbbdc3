package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CanFreeze picks a folder's hierarchy by its deepest mount, and says yes
// only to the unified hierarchy and a v1 hierarchy with the freezer.
func TestCanFreeze(t *testing.T) {
	mi := `22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:27 / /cg rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:37 / /cg/unified rw,relatime - cgroup2 cgroup2 rw
32 30 0:31 / /cg/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:35 / /cg/freezer rw,relatime - cgroup cgroup rw,freezer
`
	c, err := newChecker([]byte(mi), func(int, string) (bool, error) { return true, nil })
	if err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{
		"/cg/unified/podctl-x":   true,
		"/cg/freezer/podctl-x":   true,
		"/cg/memory/podctl-x":    false,
		"/cg/unifiedx/podctl-x":  false,
		"/elsewhere/podctl-x":    false,
		"/cg/memory/a/podctl-x":  false,
		"/cg/freezer/a/podctl-x": true,
	} {
		if got := c.CanFreeze(dir); got != want {
			t.Errorf("CanFreeze(%s) = %v, want %v", dir, got, want)
		}
	}
}

// ReadFreezer reads a fake host's freezer files only through folders that
// pass the checks, and refuses links on the way.
func TestReadFreezerFake(t *testing.T) {
	root, c := fakeHost(t)
	pod := PodDirName(testUUID)
	j := func(p string) string { return filepath.Join(root, p) }
	if err := os.WriteFile(j("cg/unified/"+pod+"/cgroup.freeze"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j("cg/unified/user.slice/"+pod+"/cgroup.freeze"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The pod's folder with a tmpfs over it, and a file of the freezer's
	// name on the tmpfs: never opened.
	for _, f := range []string{"cg/memory/host/cgroup.freeze", "cg/unified/over/" + pod + "/cgroup.freeze"} {
		if err := os.WriteFile(j(f), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dir    string
		frozen bool
		want   string // "" passes, "gone", else a word of the problem
	}{
		{j("cg/unified/" + pod), true, ""},
		{j("cg/unified/user.slice/" + pod), false, ""},
		{j("cg/unified/gone/" + pod), false, "gone"},
		{j("cg/unified/via/" + pod), false, "symbolic link"},
		{j("cg/memory/sub/" + pod), false, "without a freezer"},
		{j("cg/memory/" + pod), false, "without a freezer"},
		{j("cg/unified/over/" + pod), false, "not on a cgroup filesystem"},
		{j("cg/unified/busy/" + pod), false, "mount point below"},
		{j("cg/unified/podctl-other"), false, "not named"},
	} {
		frozen, err := c.ReadFreezer(tc.dir, testUUID)
		var bad *BadRecordError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.dir, err)
		case tc.want == "" && frozen != tc.frozen:
			t.Errorf("%s: frozen %v, want %v", tc.dir, frozen, tc.frozen)
		case tc.want == "":
		case errors.Is(err, fs.ErrNotExist) && strings.Contains(tc.want, "gone"):
		case errors.As(err, &bad) && matchesAny(bad.Problem, tc.want):
		default:
			t.Errorf("%s: frozen %v, error %v; want %q", tc.dir, frozen, err, tc.want)
		}
	}
}
