package passwd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\nweb:x:33:33::/:/bin/sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nwww:x:44:\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "owned"), nil, 0o600))
	must(os.Chown(filepath.Join(root, "owned"), 1234, 5678))
	// A link that points out of root resolves inside it.
	must(os.Symlink("/owned", filepath.Join(root, "link")))
	for _, c := range []struct {
		user, group string
		uid, gid    int
	}{
		{"", "", 0, 0},
		{"7", "8", 7, 8},
		{"web", "www", 33, 44},
		{"/owned", "/owned", 1234, 5678},
		{"/link", "0", 1234, 0},
	} {
		uid, gid, err := Resolve(root, c.user, c.group)
		if err != nil || uid != c.uid || gid != c.gid {
			t.Errorf("Resolve(%q, %q) = %d, %d, %v; want %d, %d", c.user, c.group, uid, gid, err, c.uid, c.gid)
		}
	}
	for _, c := range [][2]string{{"/missing", "0"}, {"0", "/missing"}, {"nobody", "0"}, {"-1", "0"}} {
		if _, _, err := Resolve(root, c[0], c[1]); err == nil {
			t.Errorf("Resolve(%q, %q) succeeded", c[0], c[1])
		} else if strings.Contains(c[0]+c[1], "/missing") && !strings.Contains(err.Error(), "no such file") {
			t.Errorf("Resolve(%q, %q): %v: want it to say the file is missing", c[0], c[1], err)
		}
	}
}
