package stage0

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPrivateUsersFlavors: native and systemd give a pod users of
// its own, systemd where the data directory takes idmapped mounts (the
// test's temporary folder, not yet made, is looked at through its
// parent); fly never.
func TestCheckPrivateUsersFlavors(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "not", "yet")
	if !idmapSupported(existingDir(dataDir)) {
		t.Fatalf("%s cannot be idmapped here: run the test on ext4, xfs, btrfs, f2fs or tmpfs (Linux 6.3+)", os.TempDir())
	}
	o := PrivateUsersOption{Enabled: true, Auto: true, Count: 65536, Ownership: "auto"}
	for _, flavor := range []string{"native", "systemd"} {
		if err := checkPrivateUsers(o, flavor, dataDir, false); err != nil {
			t.Errorf("%s: %v", flavor, err)
		}
	}
	err := checkPrivateUsers(o, "fly", dataDir, false)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "fly flavor") {
		t.Errorf("fly: %v, want a usage error naming the flavor", err)
	}
	if err := checkPrivateUsers(PrivateUsersOption{}, "fly", dataDir, false); err != nil {
		t.Errorf("fly without private users: %v", err)
	}
}

// TestExistingDir: the nearest folder that exists.
func TestExistingDir(t *testing.T) {
	dir := t.TempDir()
	for in, want := range map[string]string{
		dir:                             dir,
		filepath.Join(dir, "a", "b"):    dir,
		filepath.Join(dir, "a") + "/":   dir,
		"/nonexistent-podctl-test/x/y/": "/",
	} {
		if got := existingDir(in); got != want {
			t.Errorf("existingDir(%q) = %q, want %q", in, got, want)
		}
	}
}
