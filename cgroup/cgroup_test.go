package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A hybrid host as the project's machines have it: v1 controllers, cpu and
// cpuacct apart, name=systemd, and a cgroup2 mount at unified.
const hybridMountinfo = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const hybridProcCgroup = `9:name=systemd:/
8:pids:/
4:memory:/process_api/90bc
2:cpuacct:/
1:cpu:/
0::/
`

func TestParseHybrid(t *testing.T) {
	mounts, err := ParseMountinfo(strings.NewReader(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 6 {
		t.Fatalf("%d cgroup mounts, want 6: %+v", len(mounts), mounts)
	}
	if !mounts[5].V2 || mounts[5].Dir != "/sys/fs/cgroup/unified" {
		t.Fatalf("unified mount: %+v", mounts[5])
	}
	if strings.Join(mounts[4].Controllers, ",") != "name=systemd" {
		t.Fatalf("name=systemd mount: %+v", mounts[4])
	}
	own, err := ParseProcCgroup(strings.NewReader(hybridProcCgroup))
	if err != nil {
		t.Fatal(err)
	}
	if own["memory"] != "/process_api/90bc" || own[""] != "/" {
		t.Fatalf("own cgroups: %v", own)
	}
	dir, err := trackingDir(mounts, own)
	if err != nil || dir != "/sys/fs/cgroup/unified" {
		t.Fatalf("tracking dir %q, %v", dir, err)
	}
}

func TestTrackingFallsBackToV1(t *testing.T) {
	// No unified mount; pids listed in /proc/self/cgroup but not mounted.
	mi := `31 30 0:28 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
39 30 0:36 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
`
	own := map[string]string{"pids": "/a", "freezer": "/b", "name=systemd": "/c"}
	mounts, _ := ParseMountinfo(strings.NewReader(mi))
	dir, err := trackingDir(mounts, own)
	if err != nil || dir != "/sys/fs/cgroup/freezer/b" {
		t.Fatalf("tracking dir %q, %v", dir, err)
	}
	if _, err := trackingDir(nil, own); err == nil {
		t.Fatal("no hierarchy must be an error")
	}
}

func TestProcsAndRemoveOnFakeTree(t *testing.T) {
	g := &Group{Dirs: []string{filepath.Join(t.TempDir(), "podctl-x")}}
	os.MkdirAll(filepath.Join(g.Dirs[0], "app"), 0o755)
	os.WriteFile(filepath.Join(g.Dirs[0], "cgroup.procs"), []byte("12\n13\n"), 0o644)
	os.WriteFile(filepath.Join(g.Dirs[0], "app", "cgroup.procs"), []byte("14\n"), 0o644)
	pids, err := g.Procs()
	if err != nil || len(pids) != 3 || pids[2] != 14 {
		t.Fatalf("procs %v, %v", pids, err)
	}
}

// On the real host: a process in the group, and one it forked, are killed.
func TestKillRealGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and must run as root")
	}
	g, err := NewPodGroup("test-"+strings.ReplaceAll(t.Name(), "/", "-"), "name=systemd")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	// The tracking hierarchy first, name=systemd, and one folder for each
	// hierarchy the pod's usage is read from.
	if len(g.Dirs) != 2+len(g.stats) || !strings.Contains(g.Dirs[1], "systemd") {
		t.Fatalf("want the pod in the tracking, name=systemd and %v hierarchies, got %v", g.stats, g.Dirs)
	}
	cmd := exec.Command("/bin/sh", "-c", "echo 0 > "+filepath.Join(g.Dirs[0], "cgroup.procs")+"; sleep 60 & sleep 60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, _ := g.Procs()
		if len(pids) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes never joined: %v", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	go cmd.Wait()
	if err := g.Kill(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if pids, _ := g.Procs(); len(pids) != 0 {
		t.Fatalf("left after kill: %v", pids)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range g.Dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("group still there: %v", err)
		}
	}
}

// A cgroup removed while podctl reads it (the pod ending as `podctl stop`
// lists its processes) answers ENODEV, not ENOENT, to a file opened
// before; that is a group gone, not an error.
func TestRemovedGroupIsGone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and must run as root")
	}
	g, err := NewPodGroup("test-"+t.Name(), "name=systemd")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	f, err := os.Open(filepath.Join(g.Dirs[0], "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	_, err = f.Read(make([]byte, 64))
	if err == nil || !gone(err) {
		t.Fatalf("reading cgroup.procs of a removed group: %v, want an error that says it is gone", err)
	}
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Fatalf("procs of a removed group: %v, %v", pids, err)
	}
	if err := g.Kill(time.Second); err != nil {
		t.Fatalf("kill of a removed group: %v", err)
	}
}

// Freezing picks the unified folder's cgroup.freeze, else the v1
// freezer's freezer.state, and reads the kernel's answer back.
func TestFreezerOnFakeTrees(t *testing.T) {
	v2 := filepath.Join(t.TempDir(), "podctl-x")
	v1 := filepath.Join(t.TempDir(), "podctl-x")
	os.MkdirAll(v2, 0o755)
	os.MkdirAll(v1, 0o755)
	os.WriteFile(filepath.Join(v2, "cgroup.freeze"), []byte("0\n"), 0o644)
	os.WriteFile(filepath.Join(v2, "cgroup.events"), []byte("populated 1\nfrozen 1\n"), 0o644)
	os.WriteFile(filepath.Join(v1, "freezer.state"), []byte("THAWED\n"), 0o644)

	both := &Group{Dirs: []string{v1, v2}}
	if err := both.Freeze(time.Second); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(v2, "cgroup.freeze")); string(b) != "1" {
		t.Fatalf("v2 first: cgroup.freeze %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(v1, "freezer.state")); string(b) != "THAWED\n" {
		t.Fatalf("v1 touched although v2 is there: %q", b)
	}

	only1 := &Group{Dirs: []string{v1}}
	if err := only1.Freeze(time.Second); err != nil {
		t.Fatal(err)
	}
	if frozen, err := only1.Frozen(); !frozen || err != nil {
		t.Fatalf("v1 frozen %v, %v", frozen, err)
	}
	if err := only1.Thaw(); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := only1.Frozen(); frozen {
		t.Fatal("v1 still frozen after thaw")
	}

	// The kernel never says frozen: Freeze gives up.
	os.WriteFile(filepath.Join(v2, "cgroup.events"), []byte("populated 1\nfrozen 0\n"), 0o644)
	if err := both.Freeze(50 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "not frozen") {
		t.Fatalf("want a timeout, got %v", err)
	}
	// Told to freeze, with a process not stopped yet (one that joined a
	// frozen folder): paused all the same, in either hierarchy.
	if frozen, err := both.Frozen(); !frozen || err != nil {
		t.Fatalf("v2 told to freeze, not yet frozen: paused %v, %v", frozen, err)
	}
	os.WriteFile(filepath.Join(v1, "freezer.state"), []byte("FREEZING\n"), 0o644)
	if frozen, err := only1.Frozen(); !frozen || err != nil {
		t.Fatalf("v1 freezing: paused %v, %v", frozen, err)
	}
	if err := (&Group{Dirs: []string{t.TempDir()}}).Freeze(time.Second); err != ErrNoFreezer {
		t.Fatalf("no freezer: %v", err)
	}
}

// On the real host: a frozen group's process stops writing, and goes on
// once thawed.
func TestFreezeRealGroup(t *testing.T) {
	g := realTestGroup(t)
	out := filepath.Join(t.TempDir(), "count")
	cmd := exec.Command("/bin/sh", "-c", "echo 0 > "+filepath.Join(g.Dirs[0], "cgroup.procs")+"; while :; do echo x >> "+out+"; sleep 0.01; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { g.Kill(5 * time.Second); cmd.Wait() }()
	size := func() int64 {
		fi, _ := os.Stat(out)
		if fi == nil {
			return 0
		}
		return fi.Size()
	}
	for deadline := time.Now().Add(5 * time.Second); size() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the counter never started")
		}
	}
	if err := g.Freeze(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if frozen, err := g.Frozen(); !frozen || err != nil {
		t.Fatalf("frozen %v, %v", frozen, err)
	}
	before := size()
	time.Sleep(200 * time.Millisecond)
	if after := size(); after != before {
		t.Fatalf("a frozen process wrote: %d then %d bytes", before, after)
	}
	if err := g.Thaw(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); size() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the counter did not go on after thaw")
		}
	}
}

// Kill reads a unified folder's cgroup.events to see that nothing lives
// in it, and only that: "populated 1", a v1 folder or a file it cannot
// read send it to the walk.
func TestUnpopulated(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		events string
		want   bool
	}{
		{"populated 0\nfrozen 0\n", true},
		{"populated 1\nfrozen 0\n", false},
		{"frozen 0\n", false},
		{"", false},
	} {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte(c.events), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := unpopulated(dir); got != c.want {
			t.Errorf("unpopulated with %q = %t, want %t", c.events, got, c.want)
		}
	}
	if unpopulated(t.TempDir()) {
		t.Error("a folder with no cgroup.events reads as unpopulated")
	}
}

// Remove takes away what the group made, and a child it was told of but
// that was never made, without walking a folder; a folder made behind
// its back has its hierarchy walked, and goes too.
func TestRemoveKnownFolders(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and must run as root")
	}
	walks := 0
	walkRemove = func(dir string) error { walks++; return removeTree(dir) }
	defer func() { walkRemove = removeTree }()
	for _, behind := range []bool{false, true} {
		g, err := NewPodGroup(fmt.Sprintf("test-%s-%v", t.Name(), behind), "devices", "memory")
		if err != nil {
			t.Fatal(err)
		}
		defer g.Remove()
		if _, err := g.NewAppGroup("app", Limits{Devices: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := g.NewChild("app"); err != nil {
			t.Fatal(err)
		}
		g.NoteChild(filepath.Join(g.Dirs[0], "never"))
		if behind {
			if err := os.Mkdir(filepath.Join(g.Dirs[0], "other"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		walks = 0
		if err := g.Remove(); err != nil {
			t.Fatal(err)
		}
		for _, d := range g.Dirs {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Fatalf("%s still there after Remove: %v", d, err)
			}
		}
		if want := map[bool]int{false: 0, true: 1}[behind]; walks != want {
			t.Fatalf("Remove walked %d folders, want %d (a folder made behind the group's back: %v)", walks, want, behind)
		}
	}
}
