package kit

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/appc/spec/schema/types"

	"podctl/stage1"
)

// copyUp copies files, folders and links with their modes and owners,
// copies links as links, never following one out of the image, and
// copies nothing for a path that is a link or not a folder.
func TestCopyUp(t *testing.T) {
	tree, outside := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o600))
	must(os.MkdirAll(filepath.Join(tree, "data/sub"), 0o755))
	must(os.WriteFile(filepath.Join(tree, "data/file"), []byte("image"), 0o640))
	must(os.Chown(filepath.Join(tree, "data/file"), 1000, 1001))
	must(os.Chmod(filepath.Join(tree, "data/sub"), 0o777|os.ModeSticky))
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(tree, "data/abs")))
	must(os.Symlink("../../../../../"+outside, filepath.Join(tree, "data/up")))
	must(os.Symlink(outside, filepath.Join(tree, "linked")))
	must(os.WriteFile(filepath.Join(tree, "plain"), nil, 0o644))

	dst := t.TempDir()
	must(copyUp(imageTree{Dir: tree}, "/data", dst))
	b, err := os.ReadFile(filepath.Join(dst, "file"))
	must(err)
	fi, err := os.Lstat(filepath.Join(dst, "file"))
	must(err)
	st := fi.Sys().(*syscall.Stat_t)
	if string(b) != "image" || fi.Mode().Perm() != 0o640 || st.Uid != 1000 || st.Gid != 1001 {
		t.Fatalf("file copied as %q, %v, %d:%d", b, fi.Mode(), st.Uid, st.Gid)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "sub")); err != nil || !fi.IsDir() || fi.Mode()&os.ModeSticky == 0 {
		t.Fatalf("sub copied as %v (%v)", fi, err)
	}
	for _, l := range []string{"abs", "up"} {
		fi, err := os.Lstat(filepath.Join(dst, l))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("link %s not copied as a link: %v (%v)", l, fi, err)
		}
	}
	for _, path := range []string{"/linked", "/plain", "/missing"} {
		d := t.TempDir()
		if err := copyUp(imageTree{Dir: tree}, path, d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if names, _ := os.ReadDir(d); len(names) != 0 {
			t.Fatalf("%s: copied %v", path, names)
		}
	}
}

func TestMountPointReadOnly(t *testing.T) {
	mps := []types.MountPoint{{Name: "ro", Path: "/ro/", ReadOnly: true}, {Name: "rw", Path: "/rw"}}
	for _, c := range []struct {
		vol, path string
		want      bool
	}{
		{"ro", "/elsewhere", true}, {"other", "/ro", true}, {"rw", "/rw", false}, {"other", "/x", false},
	} {
		if got := mountPointReadOnly(mps, types.ACName(c.vol), c.path); got != c.want {
			t.Errorf("volume %s on %s: %v, want %v", c.vol, c.path, got, c.want)
		}
	}
}

// A pod whose trees are chowned copies gets the image's own ids back in
// its volumes, which it sees through its mapping.
func TestImageTreeOwner(t *testing.T) {
	chown := imageTree{Users: &stage1.PrivateUsers{UID: 524288, GID: 600000, Count: 65536, Ownership: stage1.OwnershipChown}}
	mapped := imageTree{Users: &stage1.PrivateUsers{UID: 524288, GID: 524288, Count: 65536, Ownership: stage1.OwnershipMap}}
	for _, c := range []struct {
		t            imageTree
		uid, gid     uint32
		wantU, wantG int
	}{
		{imageTree{}, 1000, 1000, 1000, 1000},
		{mapped, 1000, 1000, 1000, 1000},
		{chown, 524288 + 1000, 600000 + 5, 1000, 5},
		{chown, 7, 600000 + 65536, 7, 600000 + 65536},
	} {
		if u, g := c.t.owner(c.uid, c.gid); u != c.wantU || g != c.wantG {
			t.Errorf("%+v %d:%d: got %d:%d, want %d:%d", c.t.Users, c.uid, c.gid, u, g, c.wantU, c.wantG)
		}
	}
}
