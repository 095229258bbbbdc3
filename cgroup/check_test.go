package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testUUID = "0c1b8a2e-5d7f-4e3a-9b6c-2f4e8d1a7c30"

// fakeHost builds a host in a temporary folder: two cgroup hierarchies (a
// unified one and a v1 memory one), a tmpfs mounted over one folder named
// for the pod, a bind of a hierarchy's root onto another, a mount below a
// pod folder, and folders, files and links the records of a hostile pod
// could name (the tmpfs is mounted for real). It returns the root and a checker of its mount table, in
// which only folders below the cgroup mounts, and not below the tmpfs, are
// on cgroupfs.
func fakeHost(t *testing.T) (string, *Checker) {
	t.Helper()
	root := t.TempDir()
	pod := PodDirName(testUUID)
	j := func(p ...string) string { return filepath.Join(append([]string{root}, p...)...) }
	for _, d := range []string{
		"cg/unified/" + pod + "/app",
		"cg/unified/user.slice/" + pod,
		"cg/unified/podctl-other",
		"cg/unified/user.slice/sshd",
		"cg/unified/over/" + pod,
		"cg/unified/bind/" + pod,
		"cg/unified/busy/" + pod + "/inner",
		"cg/memory/" + pod,
		"cg/memory/host",
		"cg/memory/sub",
		"elsewhere/" + pod,
	} {
		if err := os.MkdirAll(j(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A folder name in a hierarchy that is a link to a host cgroup, and a
	// link on the way to a folder of the pod's name.
	if err := os.Symlink(j("cg/memory/host"), j("cg/memory/sub/"+pod)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(j("cg/unified/user.slice"), j("cg/unified/via")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(j("cg/pids"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j("cg/pids/"+pod), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The tmpfs over a pod's folder is a real mount: a lookup from a
	// hierarchy's mount point refuses to cross it (RESOLVE_NO_XDEV),
	// where the fake onCgroup below cannot say where a mount is.
	over := j("cg/unified/over/" + pod)
	if err := unix.Mount("tmpfs", over, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mounting a tmpfs over %s (the test runs as root): %v", over, err)
	}
	t.Cleanup(func() { unix.Unmount(over, unix.MNT_DETACH) })
	mi := fmt.Sprintf(`22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:27 / %[1]s/cg rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:37 / %[1]s/cg/unified rw,relatime - cgroup2 cgroup2 rw
32 30 0:31 / %[1]s/cg/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:35 / %[1]s/cg/pids rw,relatime - cgroup cgroup rw,pids
34 31 0:50 / %[1]s/cg/unified/over/%[2]s rw - tmpfs tmpfs rw
35 31 0:37 / %[1]s/cg/unified/bind/%[2]s rw - cgroup2 cgroup2 rw
36 31 0:51 / %[1]s/cg/unified/busy/%[2]s/inner rw - tmpfs tmpfs rw
`, root, pod)
	onCgroup := func(_ int, dir string) (bool, error) {
		if _, err := os.Stat(dir); err != nil {
			return false, err
		}
		return strings.HasPrefix(dir, j("cg")+"/") && !strings.HasPrefix(dir, j("cg/unified/over")+"/"), nil
	}
	c, err := newChecker([]byte(mi), onCgroup)
	if err != nil {
		t.Fatal(err)
	}
	return root, c
}

func TestCheckRecordedFolders(t *testing.T) {
	root, c := fakeHost(t)
	pod := PodDirName(testUUID)
	j := func(p string) string { return filepath.Join(root, p) }
	for _, tc := range []struct {
		dir   string
		below bool
		// want is "" for a folder that passes, "gone" for one that is
		// not there, else a word of the problem.
		want string
	}{
		{j("cg/unified/" + pod), false, ""},
		{j("cg/unified/user.slice/" + pod), false, ""},
		{j("cg/memory/" + pod), false, ""},
		{j("cg/unified/" + pod + "/app"), true, ""},
		{j("cg/unified/" + pod), true, ""},
		{j("cg/unified/" + pod + "/app"), false, "not named"},
		{j("cg/unified/gone/" + pod), false, "gone"},
		{j("cg/unified/" + pod + "/gone"), true, "gone"},
		{j("cg/unified/podctl-other"), false, "not named"},
		{j("cg/unified/user.slice/sshd"), true, "not in a folder named"},
		{j("cg/unified"), false, "root of the cgroup hierarchy"},
		{j("cg/unified"), true, "root of the cgroup hierarchy"},
		{j("cg/memory/host"), false, "not named"},
		{j("elsewhere/" + pod), false, "no cgroup hierarchy"},
		{j("cg/" + pod), false, "no cgroup hierarchy"},
		{"/" + pod, false, "no cgroup hierarchy"},
		{root + "/cg/unified/x/../" + pod, false, "clean"},
		{root + "/cg/unified/" + pod + "/", false, "clean"},
		{root + "/cg/unified//" + pod, false, "clean"},
		{"cg/unified/" + pod, false, "absolute"},
		{"", false, "absolute"},
		{j("cg/memory/sub/" + pod), false, "is or goes through a symbolic link"},
		{j("cg/unified/via/" + pod), false, "is or goes through a symbolic link"},
		{j("cg/pids/" + pod), false, "not a folder"},
		{j("cg/unified/over/" + pod), false, "not on a cgroup filesystem"},
		{j("cg/unified/bind/" + pod), false, "root of the cgroup hierarchy"},
		{j("cg/unified/bind/" + pod + "/" + pod), false, "not on a cgroup filesystem|gone"},
		{j("cg/unified/busy/" + pod), false, "mount point below"},
	} {
		err := c.check(tc.dir, testUUID, tc.below)
		var bad *BadRecordError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s (below %v): %v, want it to pass", tc.dir, tc.below, err)
		case tc.want == "":
		case errors.Is(err, fs.ErrNotExist) && strings.Contains(tc.want, "gone"):
		case errors.As(err, &bad) && matchesAny(bad.Problem, tc.want):
			if bad.Dir != tc.dir {
				t.Errorf("%s: the error names %q", tc.dir, bad.Dir)
			}
		default:
			t.Errorf("%s (below %v): %v, want %q", tc.dir, tc.below, err, tc.want)
		}
	}
	// A folder of one pod is not another's, and a UUID is one element.
	if err := c.CheckPodDir(j("cg/unified/"+pod), "0c1b8a2e"); err == nil {
		t.Error("a pod folder passed for a prefix of its UUID")
	}
	if err := c.CheckPodDir(j("cg/unified/"+pod), "../"+testUUID); err == nil {
		t.Error("a UUID with a slash passed")
	}
}

// A pod's folders are found from its UUID alone: those on cgroupfs in
// each hierarchy, at any depth, and not those that fail the checks.
func TestFindPodDirs(t *testing.T) {
	root, c := fakeHost(t)
	pod := PodDirName(testUUID)
	found := c.FindPodDirs()
	want := []string{
		filepath.Join(root, "cg/unified", pod),
		filepath.Join(root, "cg/unified/user.slice", pod),
		filepath.Join(root, "cg/memory", pod),
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(found[testUUID]))
	if !slices.Equal(got, want) {
		t.Errorf("found %v\nwant %v", got, want)
	}
	if other := found["other"]; len(other) != 1 || other[0] != filepath.Join(root, "cg/unified/podctl-other") {
		t.Errorf("another pod's folders: %v", other)
	}
}

func matchesAny(s, alternatives string) bool {
	for _, a := range strings.Split(alternatives, "|") {
		if strings.Contains(s, a) {
			return true
		}
	}
	return false
}

func TestMountinfoEscapes(t *testing.T) {
	mounts, err := ParseMountinfo(strings.NewReader(`31 30 0:37 / /sys/fs/my\040cgroups\134x rw - cgroup2 cgroup2 rw` + "\n"))
	if err != nil || len(mounts) != 1 || mounts[0].Dir != `/sys/fs/my cgroups\x` {
		t.Fatalf("%+v, %v", mounts, err)
	}
}

// On the real host: the folders of a group made for a pod pass, named
// for that pod only; the hierarchy's root, the group's parent and a
// folder outside cgroupfs fail; once removed they are gone, not bad.
func TestCheckRealGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and must run as root")
	}
	uuid := "test-" + t.Name()
	g, err := NewPodGroup(uuid)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	child, err := g.NewChild("app")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range g.Dirs {
		if err := c.CheckPodDir(d, uuid); err != nil {
			t.Errorf("the pod's own folder: %v", err)
		}
		if err := c.CheckPodDir(d, "test-other"); err == nil {
			t.Errorf("%s passed for another pod", d)
		}
		if err := c.CheckPodDir(filepath.Dir(d), uuid); err == nil {
			t.Errorf("the pod's parent %s passed", filepath.Dir(d))
		}
	}
	if err := c.CheckInPodDir(child, uuid); err != nil {
		t.Errorf("the app's folder: %v", err)
	}
	for _, m := range c.mounts {
		if err := c.CheckInPodDir(m.Dir, uuid); err == nil {
			t.Errorf("the root of hierarchy %s passed", m.Dir)
		}
	}
	outside := filepath.Join(t.TempDir(), PodDirName(uuid))
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, err := onCgroupFSPath(t, outside); ok || err != nil {
		t.Errorf("a temporary folder is on cgroupfs: %v, %v", ok, err)
	}
	if ok, err := onCgroupFSPath(t, g.Dirs[0]); !ok || err != nil {
		t.Errorf("the pod's folder is not on cgroupfs: %v, %v", ok, err)
	}
	// Both looks at the pod's folder pass it, and refuse one through a
	// link.
	bad := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Dir(g.Dirs[0]), link); err != nil {
		t.Fatal(err)
	}
	via := filepath.Join(link, filepath.Base(g.Dirs[0]))
	lookAt := func(dir, uuid string, bad func(string, ...any) error) error {
		return c.lookAt(c.hierarchyOf(dir), dir, uuid, bad)
	}
	for name, look := range map[string]func(string, string, func(string, ...any) error) error{"openat2": lookAt, "path": c.lookAtPath} {
		if err := look(g.Dirs[0], uuid, bad); err != nil {
			t.Errorf("%s: the pod's folder: %v", name, err)
		}
		if err := look(via, uuid, bad); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s: the pod's folder through a link: %v", name, err)
		}
		if err := look(filepath.Join(g.Dirs[0], "gone"), uuid, bad); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a folder not there: %v", name, err)
		}
	}
	// Told to freeze, the pod's folder that can reads so at once,
	// whether or not the kernel has stopped everything in it.
	freezable := 0
	for _, d := range g.Dirs {
		if !c.CanFreeze(d) {
			continue
		}
		if frozen, err := c.ReadFreezer(d, uuid); frozen || err != nil {
			t.Errorf("%s: frozen %v, error %v before the freeze", d, frozen, err)
		}
		if err := g.Freeze(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		frozen, err := c.ReadFreezer(d, uuid)
		if terr := g.Thaw(); terr != nil {
			t.Error(terr)
		}
		if !frozen || err != nil {
			t.Errorf("%s: frozen %v, error %v once frozen", d, frozen, err)
		}
		if d == g.Dirs[0] {
			if _, err := c.ReadFreezer(child, uuid); err == nil {
				t.Errorf("an app's folder %s was read as the pod's", child)
			}
		}
		freezable++
	}
	if freezable == 0 {
		t.Errorf("none of the pod's folders %v can freeze", g.Dirs)
	}
	// A tmpfs mounted over the pod's folder after the checker read the
	// mounts and opened its hierarchies' roots (here in a mount namespace
	// of this thread's own, with a checker of its own, as a checker
	// serves the namespace it was made in), with a file of the freezer's
	// name on it: refused, never read.
	over := make(chan error)
	go func() {
		// Never given back: the thread ends with the goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			over <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			over <- err
			return
		}
		cn, err := NewChecker()
		if err != nil {
			over <- err
			return
		}
		if frozen, err := cn.ReadFreezer(g.Dirs[0], uuid); frozen || err != nil {
			over <- fmt.Errorf("before the tmpfs: frozen %v, error %v", frozen, err)
			return
		}
		if err := unix.Mount("tmpfs", g.Dirs[0], "tmpfs", 0, ""); err != nil {
			over <- err
			return
		}
		if err := os.WriteFile(filepath.Join(g.Dirs[0], "cgroup.freeze"), []byte("1\n"), 0o644); err != nil {
			over <- err
			return
		}
		frozen, err := cn.ReadFreezer(g.Dirs[0], uuid)
		var bad *BadRecordError
		if !errors.As(err, &bad) || !strings.Contains(bad.Problem, "not on a cgroup filesystem") {
			over <- fmt.Errorf("a tmpfs over the pod's folder: frozen %v, error %v", frozen, err)
			return
		}
		over <- nil
	}()
	if err := <-over; err != nil {
		t.Error(err)
	}
	found := c.FindPodDirs()[uuid]
	if !slices.Equal(slices.Sorted(slices.Values(found)), slices.Sorted(slices.Values(g.Dirs))) {
		t.Errorf("found %v, made %v", found, g.Dirs)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if found := c.FindPodDirs()[uuid]; len(found) != 0 {
		t.Errorf("found %v after removal", found)
	}
	for _, d := range g.Dirs {
		if err := c.CheckPodDir(d, uuid); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("removed folder %s: %v, want it gone", d, err)
		}
	}
}

// A planned group makes no folder until Make, and names each folder for
// its pod, below this process's own cgroup in each hierarchy.
func TestPlanMakesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and must run as root")
	}
	uuid := "test-" + t.Name()
	g, err := PlanPodGroup(uuid, "name=systemd")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	if len(g.Dirs) < 2 {
		t.Fatalf("planned %v", g.Dirs)
	}
	for _, d := range g.Dirs {
		if filepath.Base(d) != PodDirName(uuid) {
			t.Errorf("planned folder %s is not named for the pod", d)
		}
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("planning made %s: %v", d, err)
		}
	}
	if err := g.Make(); err != nil {
		t.Fatal(err)
	}
	for _, d := range g.Dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("Make did not make %s: %v", d, err)
		}
	}
	if _, err := PlanPodGroup("../escape"); err == nil {
		t.Error("a UUID with a slash was planned")
	}
}

// TestAtOrBelow checks atOrBelow against the string it spares making.
func TestAtOrBelow(t *testing.T) {
	for _, c := range []struct{ dir, mount string }{
		{"/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/memory"},
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory"},
		{"/sys/fs/cgroup/memoryx", "/sys/fs/cgroup/memory"},
		{"/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/memory/"},
		{"/sys/fs/cgroup/memory/", "/sys/fs/cgroup/memory/"},
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/"},
		{"/a", "/"},
		{"/", "/"},
		{"", "/"},
		{"/a", ""},
		{"/sys", "/sys/fs"},
	} {
		want := c.dir == c.mount || strings.HasPrefix(c.dir, strings.TrimSuffix(c.mount, "/")+"/")
		if got := atOrBelow(c.dir, c.mount); got != want {
			t.Errorf("atOrBelow(%q, %q) = %v, want %v", c.dir, c.mount, got, want)
		}
	}
}

// onCgroupFSPath is onCgroupFS of the folder at path.
func onCgroupFSPath(t *testing.T, path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	return onCgroupFS(fd, path)
}
