package passwd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
	// neg and nobody-1 would leave a process's user unchanged: (uid_t)-1.
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\nweb:x:33:33::/:/bin/sh\nneg:x:-1:0::/:/bin/sh\nnobody-1:x:4294967295:0::/:/bin/sh\n"), 0o644))
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
	for _, c := range [][2]string{{"/missing", "0"}, {"0", "/missing"}, {"nobody", "0"}, {"-1", "0"}, {"4294967295", "0"}, {"neg", "0"}, {"nobody-1", "0"}} {
		if _, _, err := Resolve(root, c[0], c[1]); err == nil {
			t.Errorf("Resolve(%q, %q) succeeded", c[0], c[1])
		} else if strings.Contains(c[0]+c[1], "/missing") && !strings.Contains(err.Error(), "no such file") {
			t.Errorf("Resolve(%q, %q): %v: want it to say the file is missing", c[0], c[1], err)
		}
	}
}

// An image whose /etc/passwd is a FIFO, a link to a device or a folder is
// refused at once: a FIFO would block the open for ever, a device be read
// for ever.
func TestResolveNotARegularFile(t *testing.T) {
	for name, mk := range map[string]func(string) error{
		"fifo":   func(p string) error { return unix.Mkfifo(p, 0o644) },
		"device": func(p string) error { return os.Symlink("/dev/zero", p) },
		"folder": func(p string) error { return os.Mkdir(p, 0o755) },
	} {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := mk(filepath.Join(root, "etc/passwd")); err != nil {
			t.Fatal(err)
		}
		if name == "device" {
			// The link resolves in root: give root a /dev/zero.
			if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mknod(filepath.Join(root, "dev/zero"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))); err != nil {
				t.Fatalf("mknod (run the tests as root): %v", err)
			}
		}
		_, _, err := Resolve(root, "web", "0")
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: Resolve: %v, want it refused as not a regular file", name, err)
		}
	}
}
