package stage0

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"podctl/internal/fetchhelper"
	"podctl/store"
)

// An image file without a signature beside it is refused before the
// helper runs, and the store gets nothing.
func TestFetchFileNeedsSignature(t *testing.T) {
	c := Config{DataDir: t.TempDir()}
	aci := filepath.Join(t.TempDir(), "x.aci")
	if err := os.WriteFile(aci, []byte("not read"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A helper that would fail loudly if it ran.
	t.Setenv(fetchhelper.EnvPath, "/nonexistent/podctl-fetch")
	_, err := Fetch(c, []string{aci}, false, store.Limits{})
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "has no signature ("+aci+".asc)") {
		t.Fatalf("error %v, want a refusal for the missing signature", err)
	}
	imgs, err := ListImages(c)
	if err != nil || len(imgs) != 0 {
		t.Errorf("the store holds %v, %v", imgs, err)
	}
}

// The signature is checked by the helper over a private copy; its
// failure to run is an error, not an import.
func TestFetchFileHelperMissing(t *testing.T) {
	c := Config{DataDir: t.TempDir()}
	dir := t.TempDir()
	aci := filepath.Join(dir, "x.aci")
	for _, p := range []string{aci, aci + ".asc"} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(fetchhelper.EnvPath, "/nonexistent/podctl-fetch")
	if _, err := Fetch(c, []string{aci}, false, store.Limits{}); err == nil || !strings.Contains(err.Error(), "verifying image") {
		t.Fatalf("error %v, want the helper's failure", err)
	}
	// The private copy leaves nothing in the data directory.
	entries, _ := os.ReadDir(c.DataDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".verify") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}
