package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.fetchBusybox()
	if !strings.HasPrefix(id, "sha512-") || len(id) != len("sha512-")+64 {
		t.Fatalf("fetch printed %q", id)
	}
	// The same image again is stored once.
	if again := e.fetchBusybox(); again != id {
		t.Fatalf("second fetch gave %s, want %s", again, id)
	}
	blobs, _ := filepath.Glob(filepath.Join(e.dir, "images", "blobs", "*", "*"))
	if len(blobs) != 1 {
		t.Fatalf("%d blobs after two fetches of one image", len(blobs))
	}
	var imgs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	out := e.must("image", "list", "--format=json")
	if err := json.Unmarshal([]byte(out), &imgs); err != nil {
		t.Fatalf("image list json %q: %v", out, err)
	}
	if len(imgs) != 1 || imgs[0].ID != id || imgs[0].Name != "example.com/busybox" || imgs[0].Size == 0 {
		t.Fatalf("image list: %+v", imgs)
	}
	for _, ref := range []string{id, id[:12], "example.com/busybox", "example.com/busybox:1.0"} {
		m := e.must("image", "cat-manifest", ref)
		if !strings.Contains(m, `"example.com/busybox"`) {
			t.Fatalf("cat-manifest %s: %s", ref, m)
		}
	}

	// A prepared pod still runs after its image is removed, with --force.
	uuid := lastLine(e.must("prepare", "example.com/busybox", "--exec", "/bin/true"))
	if r := e.podctl("image", "rm", "example.com/busybox"); r.code != 254 || !strings.Contains(r.stderr, uuid) {
		t.Fatalf("image rm of a prepared pod's image: %s", r)
	}
	if out := e.must("image", "rm", "--force", "--full", "example.com/busybox"); !strings.Contains(out, id) {
		t.Fatalf("image rm: %s", out)
	}
	if r := e.podctl("image", "cat-manifest", id); r.code != 254 {
		t.Fatalf("removed image still there: %s", r)
	}
	if r := e.podctl("run-prepared", uuid); r.code != 0 {
		t.Fatalf("prepared pod after image rm: %s", r)
	}
	// Its tree goes once no pod uses it.
	e.must("gc", "--grace-period=0s")
	e.must("image", "gc", "--grace-period=0s")
	if trees, _ := filepath.Glob(filepath.Join(e.dir, "images", "trees", "*")); len(trees) != 0 {
		t.Fatalf("trees left after image gc: %v", trees)
	}
}

func TestImageImportRootfs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := t.TempDir()
	for _, d := range []string{"bin", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	bb, _ := os.ReadFile(busyboxPath)
	os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755)
	os.Symlink("busybox", filepath.Join(root, "bin", "sh"))
	os.WriteFile(filepath.Join(root, "etc", "motd"), []byte("imported\n"), 0o644)
	id := strings.TrimSpace(e.must("image", "import", root, "--name", "example.com/imported", "--exec", "/bin/sh -c 'busybox cat /etc/motd'"))
	r := e.podctl("run", id)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "imported" {
		t.Fatalf("run of an imported folder: %s", r)
	}
	// From a tarball, compressed.
	tarball := filepath.Join(t.TempDir(), "root.tar.gz")
	if out, err := exec.Command("tar", "-C", root, "-czf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	id2 := strings.TrimSpace(e.must("image", "import", tarball, "--name", "example.com/imported-tar", "--exec", "/bin/sh"))
	r = e.podctl("run", id2, "--exec", "/bin/busybox", "--", "cat", "/etc/motd")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "imported" {
		t.Fatalf("run of an imported tarball: %s", r)
	}
}

func TestGCOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	prepared := lastLine(e.must("prepare", "example.com/busybox"))
	if r := e.podctl("run", "example.com/busybox", "--exec", "/bin/true"); r.code != 0 {
		t.Fatal(r)
	}
	// An aborted prepare: a pod folder left in prepare/ with its lock free.
	aborted := filepath.Join(e.dir, "pods", "prepare", "0badc0de-0000-4000-8000-000000000000")
	os.Mkdir(aborted, 0o700)
	os.WriteFile(filepath.Join(aborted, "created"), nil, 0o600)

	out := e.must("gc", "--mark-only", "--grace-period=0s", "--expire-prepared=0s")
	if !strings.Contains(out, "marked exited pod") || !strings.Contains(out, "aborted") || strings.Contains(out, "removed") {
		t.Fatalf("gc --mark-only:\n%s", out)
	}
	if n := len(e.podDirs()); n != 3 {
		t.Fatalf("--mark-only removed pods: %d left, want 3", n)
	}
	out = e.must("gc", "--grace-period=0s")
	if strings.Count(out, "removed pod") != 2 {
		t.Fatalf("gc should remove the exited and the aborted pod:\n%s", out)
	}
	if st := e.status(prepared); st.State != "prepared" {
		t.Fatalf("a fresh prepared pod must stay: %+v", st)
	}
	out = e.must("gc", "--expire-prepared=0s")
	if !strings.Contains(out, "removed pod "+prepared) {
		t.Fatalf("gc --expire-prepared=0s:\n%s", out)
	}
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}
