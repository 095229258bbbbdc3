package stage0

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"podctl/lifecycle"
	"podctl/stage1"
)

func TestParsePrivateUsersFlag(t *testing.T) {
	for _, c := range []struct {
		in          string
		auto        bool
		uid, count  uint32
		off, refuse bool
	}{
		{in: "", auto: true, count: 65536},
		{in: "auto", auto: true, count: 65536},
		{in: "no", off: true},
		{in: "1000000", uid: 1000000, count: 65536},
		{in: "1000000:10", uid: 1000000, count: 10},
		{in: "0", refuse: true},
		{in: "65535:1", refuse: true},
		{in: "1000000:0", refuse: true},
		{in: "4294967295:2", refuse: true},
		{in: "x:1", refuse: true},
		{in: "-1", refuse: true},
	} {
		o, err := ParsePrivateUsers(c.in)
		if c.refuse {
			if err == nil {
				t.Errorf("%q accepted: %+v", c.in, o)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if o.Enabled == c.off || o.Auto != c.auto || o.UID != c.uid || o.Count != c.count {
			t.Errorf("%q gave %+v", c.in, o)
		}
	}
}

// FuzzParsePrivateUsersFlag: whatever --private-users says, an accepted
// range passes stage1's check.
func FuzzParsePrivateUsersFlag(f *testing.F) {
	for _, s := range []string{"auto", "1000000:65536", "65536", "4294901759:65536", "1:2:3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		o, err := ParsePrivateUsers(v)
		if err != nil || !o.Enabled || o.Auto {
			return
		}
		u := stage1.PrivateUsers{UID: o.UID, GID: o.UID, Count: o.Count, Ownership: stage1.OwnershipMap}
		if err := u.Check(); err != nil {
			t.Fatalf("%q accepted, but %v", v, err)
		}
	})
}

// newPodIn makes a pod in dataDir, as prepare does, and returns its UUID.
func newPodIn(t *testing.T, dataDir string) string {
	t.Helper()
	p, err := lifecycle.NewPod(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.UUID
}

func TestAllocateUsers(t *testing.T) {
	dataDir := t.TempDir()
	if err := lifecycle.Init(dataDir); err != nil {
		t.Fatal(err)
	}
	auto, _ := ParsePrivateUsers("auto")
	a, b := newPodIn(t, dataDir), newPodIn(t, dataDir)
	ua, err := allocateUsers(dataDir, a, auto, true)
	if err != nil {
		t.Fatal(err)
	}
	ub, err := allocateUsers(dataDir, b, auto, true)
	if err != nil {
		t.Fatal(err)
	}
	if ua.UID != autoFirst || ub.UID != autoFirst+stage1.DefaultUsers || ua.Overlaps(ub) {
		t.Fatalf("auto ranges %v and %v", ua, ub)
	}
	// A range that shares one id with a's is refused, naming a.
	mine, _ := ParsePrivateUsers("524300:2")
	if _, err := allocateUsers(dataDir, newPodIn(t, dataDir), mine, true); err == nil || !strings.Contains(err.Error(), a) {
		t.Fatalf("overlapping range: %v", err)
	}
	// A reservation whose pod is gone is freed for the next.
	stale := filepath.Join(dataDir, "users", "00000000-0000-0000-0000-000000000000")
	if err := os.WriteFile(stale, []byte(`{"uid":720896,"gid":720896,"count":65536,"ownership":"map"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	uc, err := allocateUsers(dataDir, newPodIn(t, dataDir), auto, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the reservation of a pod that is gone was kept: %v", err)
	}
	if uc.UID != autoFirst+2*stage1.DefaultUsers {
		t.Errorf("third auto range starts at %d", uc.UID)
	}
	if _, err := allocateUsers(dataDir, newPodIn(t, dataDir), auto, false); err != nil {
		t.Fatal(err)
	}
	if u, _ := allocateUsers(dataDir, newPodIn(t, dataDir), auto, false); u.Ownership != stage1.OwnershipChown {
		t.Errorf("a pod without overlays got ownership %q, want chown", u.Ownership)
	}
}

func TestShiftTree(t *testing.T) {
	root := t.TempDir()
	suid := filepath.Join(root, "suid")
	if err := os.WriteFile(suid, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(suid, 5, 6); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	far := filepath.Join(root, "far")
	if err := os.Symlink("suid", far); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(far, 100000, 100000); err != nil {
		t.Fatal(err)
	}
	// A hard link of a root file: shifted once, it stays the pod's root's.
	rootFile := filepath.Join(root, "a-root")
	if err := os.WriteFile(rootFile, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(rootFile, filepath.Join(root, "b-root-link")); err != nil {
		t.Fatal(err)
	}
	u := &stage1.PrivateUsers{UID: 1000000, GID: 2000000, Count: 65536}
	if err := shiftTree(root, u); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(suid, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1000005 || st.Gid != 2000006 || st.Mode&syscall.S_ISUID == 0 {
		t.Errorf("suid file: %d:%d mode %o", st.Uid, st.Gid, st.Mode)
	}
	if err := syscall.Lstat(far, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1000000+65534 || st.Gid != 2000000+65534 {
		t.Errorf("an id beyond the range became %d:%d, want the pod's nobody", st.Uid, st.Gid)
	}
	if err := syscall.Lstat(rootFile, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1000000 || st.Gid != 2000000 {
		t.Errorf("a hard-linked root file became %d:%d, want the pod's root", st.Uid, st.Gid)
	}
	if err := syscall.Lstat(root, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1000000 {
		t.Errorf("the tree's root is %d's", st.Uid)
	}
}
