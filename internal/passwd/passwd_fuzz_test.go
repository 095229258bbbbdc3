package passwd

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzResolve reads an image's /etc/passwd and /etc/group, which a native
// pod's init reads as root in the app's root: any content gives ids or an
// error, never a panic, and a name found is the first line's that names it.
func FuzzResolve(f *testing.F) {
	f.Add([]byte("root:x:0:0::/:/bin/sh\nweb:x:33:33::/:/bin/sh\n"), []byte("www:x:44:\n"), "web", "www")
	f.Add([]byte("web:x:-1:0\n"), []byte("www:x:4:\n"), "web", "www")
	f.Add([]byte("web:x:1:0\n"), []byte("www:x:9999999999999999999:\n"), "web", "www")
	f.Add([]byte("web\n:x:1\nweb::\n"), []byte(""), "7", "/etc/passwd")
	f.Fuzz(func(t *testing.T, passwd, group []byte, user, grp string) {
		root := t.TempDir()
		if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/passwd"), passwd, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/group"), group, 0o644); err != nil {
			t.Fatal(err)
		}
		uid, gid, err := Resolve(root, user, grp)
		if err == nil && (uid < 0 || gid < 0) {
			t.Fatalf("Resolve(%q, %q) = %d, %d: a negative id", user, grp, uid, gid)
		}
	})
}
