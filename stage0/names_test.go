package stage0

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"podctl/lifecycle"
)

func TestCheckPodName(t *testing.T) {
	for _, ok := range []string{"web", "web-1", "build-42", "x", "cafe-db", "dead-beef", "abcdefgh", "0123456789abcdef0123456789abcdef01234",
		"a23456789012345678901234567890123456789012345678901234567890123"} {
		if err := CheckPodName(ok); err != nil {
			t.Errorf("CheckPodName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "Web", "web_1", "-web", "web-", "we--b", "web.1", "a b",
		"a234567890123456789012345678901234567890123456789012345678901234", // 64
		// Could start a UUID.
		"beef", "0", "12345678", "deadbeef-cafe-", "deadbeef-ca", "deadbeef-cafe-babe-f00d-0123456789ab",
		// Read as times.
		"10m", "1h30m", "2024-05-01",
	} {
		if err := CheckPodName(bad); err == nil {
			t.Errorf("CheckPodName(%q) accepted it", bad)
		}
	}
}

func TestCouldBeUUIDPrefix(t *testing.T) {
	for s, want := range map[string]bool{
		"5b1f2c3d":                              true,
		"5b1f2c3d-":                             true,
		"5b1f2c3d-0a1b-4c2d-8e3f-0123456789ab":  true,
		"5b1f2c3d0":                             false, // a digit where the dash goes
		"5b1f-2c3d":                             false,
		"5b1f2c3g":                              false,
		"5b1f2c3d-0a1b-4c2d-8e3f-0123456789abc": false,
	} {
		if got := couldBeUUIDPrefix(s); got != want {
			t.Errorf("couldBeUUIDPrefix(%q) = %t, want %t", s, got, want)
		}
	}
}

// newTestPod creates a pod in dataDir and leaves it prepared.
func newTestPod(t *testing.T, dataDir string) string {
	t.Helper()
	p, err := lifecycle.NewPod(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	return p.UUID
}

func TestNameClaimAndRelease(t *testing.T) {
	dir := t.TempDir()
	c := Config{DataDir: dir}
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	a, b := newTestPod(t, dir), newTestPod(t, dir)
	if err := claimName(dir, "web", a); err != nil {
		t.Fatal(err)
	}
	if err := claimName(dir, "web", b); !errors.Is(err, lifecycle.ErrBusy) {
		t.Fatalf("second claim of a held name: %v, want ErrBusy", err)
	}
	if err := checkNameFree(dir, "web"); err == nil {
		t.Fatal("checkNameFree: a held name is free")
	}
	p, err := c.OpenPod("web")
	if err != nil || p.UUID != a {
		t.Fatalf("OpenPod(web) = %v, %v; want pod %s", p, err, a)
	}
	p.Close()
	// Upper case and spaces are what a user might type.
	if p, err := c.OpenPod(" WEB "); err != nil || p.UUID != a {
		t.Fatalf("OpenPod(WEB): %v", err)
	} else {
		p.Close()
	}
	// Not hexadecimal, so no pod's UUID prefix: a name only.
	if _, err := c.OpenPod("dbq"); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Fatalf("OpenPod of an unknown name: %v", err)
	}
	// A release by a pod that does not hold the name changes nothing.
	if err := releaseName(dir, "web", b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenPod("web"); err != nil {
		t.Fatalf("the name went with another pod's release: %v", err)
	}
	if err := releaseName(dir, "web", a); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenPod("web"); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Fatalf("released name still found: %v", err)
	}
	if err := claimName(dir, "web", b); err != nil {
		t.Fatalf("claiming a released name: %v", err)
	}
}

func TestStaleNameIsFree(t *testing.T) {
	dir := t.TempDir()
	c := Config{DataDir: dir}
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	a := newTestPod(t, dir)
	if err := claimName(dir, "web", a); err != nil {
		t.Fatal(err)
	}
	// The pod goes without releasing its name, as after a crash.
	if err := os.RemoveAll(filepath.Join(dir, "pods", "prepared", a)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenPod("web"); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Fatalf("a stale name finds: %v", err)
	}
	if err := checkNameFree(dir, "web"); err != nil {
		t.Fatalf("a stale name is not free: %v", err)
	}
	if err := sweepNames(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "names", "web")); !os.IsNotExist(err) {
		t.Fatalf("sweepNames left the stale entry: %v", err)
	}
	b := newTestPod(t, dir)
	if err := claimName(dir, "web", a); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "pods", "prepared", a)); err != nil {
		t.Fatal(err)
	}
	if err := claimName(dir, "web", b); err != nil {
		t.Fatalf("claiming over a stale entry: %v", err)
	}
	if p, err := c.OpenPod("web"); err != nil || p.UUID != b {
		t.Fatalf("OpenPod(web) after the stale entry was replaced: %v", err)
	} else {
		p.Close()
	}
}

// TestNameClaimRace claims one name for many pods at once: exactly one
// gets it, also when a stale entry is there to replace.
func TestNameClaimRace(t *testing.T) {
	for _, stale := range []bool{false, true} {
		dir := t.TempDir()
		if err := (Config{DataDir: dir}).Init(); err != nil {
			t.Fatal(err)
		}
		if stale {
			if err := os.MkdirAll(namesDir(dir), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("00000000-0000-4000-8000-000000000000", filepath.Join(namesDir(dir), "web")); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		for i := 0; i < 16; i++ {
			ids = append(ids, newTestPod(t, dir))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := claimName(dir, "web", id)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case !errors.Is(err, lifecycle.ErrBusy):
					t.Errorf("claim: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("stale=%t: %d claims of one name succeeded, want 1", stale, won)
		}
	}
}
