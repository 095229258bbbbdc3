package cgroup

import (
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
	if len(g.Dirs) != 2 {
		t.Fatalf("want the pod in the tracking and name=systemd hierarchies, got %v", g.Dirs)
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
