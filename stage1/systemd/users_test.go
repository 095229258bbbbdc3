package systemd

import (
	"slices"
	"testing"

	"podctl/stage1"
)

// TestUsersArgs: nspawn makes the pod's user namespace with its range and
// changes no owner; a pod without private users gets no option.
func TestUsersArgs(t *testing.T) {
	if got := usersArgs(nil); got != nil {
		t.Errorf("usersArgs(nil) = %q, want none", got)
	}
	u := &stage1.PrivateUsers{UID: 524288, GID: 524288, Count: 65536, Ownership: stage1.OwnershipMap}
	want := []string{"--private-users=524288:65536", "--private-users-ownership=off"}
	if got := usersArgs(u); !slices.Equal(got, want) {
		t.Errorf("usersArgs = %q, want %q", got, want)
	}
	if err := checkUsers(u); err != nil {
		t.Errorf("checkUsers: %v", err)
	}
	// nspawn shifts gids by the uid's amount.
	u.GID = 589824
	if err := checkUsers(u); err == nil {
		t.Errorf("checkUsers took gids that start elsewhere than the uids")
	}
}

// TestOwnerOptions: a tmpfs of the stage1 root is the pod's root's.
func TestOwnerOptions(t *testing.T) {
	if got := ownerOptions(nil); got != "" {
		t.Errorf("ownerOptions(nil) = %q, want none", got)
	}
	u := &stage1.PrivateUsers{UID: 524288, GID: 655360, Count: 65536}
	if got, want := ownerOptions(u), ",uid=524288,gid=655360"; got != want {
		t.Errorf("ownerOptions = %q, want %q", got, want)
	}
}
