package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// An xz-compressed ACI is imported and runs: podctl, which links no xz
// decoder (TestStartPathIsLean), decompresses it through podctl-fetch.
func TestXzACI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	plain, err := os.ReadFile(busyboxACI)
	if err != nil {
		t.Fatal(err)
	}
	tarData := plain
	if len(plain) > 2 && plain[0] == 0x1f && plain[1] == 0x8b {
		t.Fatalf("%s is gzipped: this test wants a plain tar to compress", busyboxACI)
	}
	path := filepath.Join(t.TempDir(), "busybox-xz.aci")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := xz.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(tarData); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	e.must("fetch", "--insecure-options=image", path)
	r := e.podctl("run", "--insecure-options=image", "--stage1=native", "--net=none", "example.com/busybox", "--exec", "/bin/echo", "--", "from xz")
	if r.code != 0 || !strings.Contains(r.stdout, "from xz") {
		t.Fatalf("run of the xz image: %s", r)
	}
	// A truncated archive is refused in one line.
	b, _ := os.ReadFile(path)
	cut := filepath.Join(t.TempDir(), "cut.aci")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.podctl("fetch", "--insecure-options=image", cut); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("a truncated xz ACI: want one line and a failure: %s", r)
	}
	// Nothing of it is stored: the store holds the whole image only.
	if imgs := strings.TrimSpace(e.must("image", "list", "--no-legend")); strings.Count(imgs, "\n") != 0 {
		t.Errorf("a truncated xz ACI left an image:\n%s", imgs)
	}
}
