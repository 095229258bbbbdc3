package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The child of the device tests: it joins the v1 cgroup $devicesChildJoin
// names, if any, then tries each access of devicesProbe and prints one
// line per access, "name ok" or "name ERRNO".
const (
	devicesChildEnv  = "PODCTL_TEST_DEVICES_CHILD"
	devicesChildJoin = "PODCTL_TEST_DEVICES_JOIN"
)

func TestMain(m *testing.M) {
	if dir, ok := os.LookupEnv(devicesChildEnv); ok {
		os.Exit(devicesChild(dir))
	}
	os.Exit(m.Run())
}

// devicesProbe is what the child tries, in a folder of its own for the
// nodes it makes, where the test has made the nodes "nodes" lists. allowed
// tells whether DefaultDevices allow it: then any result but EPERM will
// do (a pseudo-terminal that does not exist gives EIO).
var devicesProbe = []struct {
	name    string
	allowed bool
	try     func(tmp string) error
}{
	// The host's kernel log, 1:11: a minor of an allowed major.
	{"open-kmsg", false, func(string) error { return openClose("/dev/kmsg", unix.O_WRONLY) }},
	{"mknod-kmsg", false, func(tmp string) error {
		return unix.Mknod(filepath.Join(tmp, "k"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11)))
	}},
	// No mknod at all, even of a node the app may open.
	{"mknod-null", false, func(tmp string) error {
		return unix.Mknod(filepath.Join(tmp, "n"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	}},
	{"open-block", false, func(tmp string) error { return openClose(filepath.Join(tmp, "loop0"), unix.O_RDONLY) }},
	{"open-serial", false, func(tmp string) error { return openClose(filepath.Join(tmp, "ttyS0"), unix.O_RDWR) }},
	{"open-null", true, func(string) error { return openClose("/dev/null", unix.O_RDWR) }},
	{"open-urandom", true, func(string) error { return openClose("/dev/urandom", unix.O_RDONLY) }},
	{"open-ptmx", true, func(string) error { return openClose("/dev/ptmx", unix.O_RDWR) }},
	// Any minor of the pseudo-terminals' major.
	{"open-pts", true, func(tmp string) error { return openClose(filepath.Join(tmp, "pts"), unix.O_RDWR) }},
}

// devicesNodes are the nodes the test makes for the child to open.
var devicesNodes = []struct {
	name         string
	mode         uint32
	major, minor uint32
}{
	{"loop0", unix.S_IFBLK, 7, 0},
	{"ttyS0", unix.S_IFCHR, 4, 64},
	{"pts", unix.S_IFCHR, 136, 4000},
}

func openClose(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

func devicesChild(tmp string) int {
	if dir := os.Getenv(devicesChildJoin); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	for _, p := range devicesProbe {
		res := "ok"
		if err := p.try(tmp); err != nil {
			var errno syscall.Errno
			if !errors.As(err, &errno) {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			res = unix.ErrnoName(errno)
		}
		fmt.Printf("%s %s\n", p.name, res)
	}
	return 0
}

// runDevicesChild runs the child, in the v1 cgroup join or born in the
// cgroup2 folder v2 (either may be ""), and returns its results.
func runDevicesChild(t *testing.T, join, v2 string) map[string]string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, n := range devicesNodes {
		if err := unix.Mknod(filepath.Join(tmp, n.name), n.mode|0o600, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), devicesChildEnv+"="+tmp, devicesChildJoin+"="+join)
	cmd.Stderr = os.Stderr
	if v2 != "" {
		f, err := os.Open(v2)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("device child: %v", err)
	}
	res := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		res[k] = v
	}
	return res
}

// checkConfined fails unless the results are those of an app under
// DefaultDevices, and checks first that the same child, unconfined, is
// refused none of it: the refusals are the policy's, not the host's.
func checkConfined(t *testing.T, got map[string]string) {
	t.Helper()
	free := runDevicesChild(t, "", "")
	for _, p := range devicesProbe {
		if free[p.name] == "" || free[p.name] == "EPERM" {
			t.Fatalf("unconfined, %s gives %q: this host cannot show the policy", p.name, free[p.name])
		}
		if r := got[p.name]; r == "" || (r == "EPERM") == p.allowed {
			t.Errorf("confined, %s gives %q; allowed: %v", p.name, r, p.allowed)
		}
	}
}

func TestDeviceRules(t *testing.T) {
	var lines []string
	for _, d := range DefaultDevices {
		lines = append(lines, d.String())
	}
	want := "c 1:3 rw,c 1:5 rw,c 1:7 rw,c 1:8 rw,c 1:9 rw,c 5:0 rw,c 5:1 rw,c 5:2 rw,c 136:* rw"
	if got := strings.Join(lines, ","); got != want {
		t.Fatalf("rules %s, want %s", got, want)
	}
	if _, err := deviceProgram(DefaultDevices); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Device{
		{'c', 1, 3, "rwm"}, {'c', 1, 3, ""}, {'x', 1, 3, "rw"},
		{'c', -1, 3, "rw"}, {'c', 1, -2, "rw"}, {'b', 1 << 12, 0, "r"},
	} {
		if _, err := deviceProgram([]Device{bad}); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and must run as root")
	}
}

func testPodName(t *testing.T) string {
	return "test-" + strings.ReplaceAll(t.Name(), "/", "-") + fmt.Sprint(os.Getpid())
}

// On the host's v1 devices controller: the app's folder denies all but
// DefaultDevices, and a process in it is held to them.
func TestDevicesV1RealGroup(t *testing.T) {
	g, _ := newV1DevicesPod(t)
	if g.v1["devices"] == "" {
		t.Fatalf("pod made with devices has no devices folder: %v", g.Dirs)
	}
	dirs, err := g.NewAppGroup("app", Limits{Devices: true})
	if err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(g.v1["devices"], "app")
	if !contains(dirs, dev) {
		t.Fatalf("app folders %v lack %s", dirs, dev)
	}
	b, err := os.ReadFile(filepath.Join(dev, "devices.list"))
	if err != nil {
		t.Fatal(err)
	}
	want := "c 1:3 rw\nc 1:5 rw\nc 1:7 rw\nc 1:8 rw\nc 1:9 rw\nc 5:0 rw\nc 5:1 rw\nc 5:2 rw\nc 136:* rw\n"
	if string(b) != want {
		t.Fatalf("devices.list:\n%s\nwant:\n%s", b, want)
	}
	checkConfined(t, runDevicesChild(t, dev, ""))

	// Without Devices, no folder in the devices hierarchy.
	dirs, err = g.NewAppGroup("free", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if strings.HasPrefix(d, g.v1["devices"]+"/") {
			t.Fatalf("app without a device policy has %s", d)
		}
	}
}

// A pod group made without "devices" on a host that has the controller
// gives its apps no device policy: NewAppGroup refuses rather than leave
// them free.
func TestDevicesNeedPodFolder(t *testing.T) {
	root := t.TempDir()
	g := &Group{Dirs: []string{filepath.Join(root, "unified/pod")}, unified: true, v1: map[string]string{},
		mounts: []Mount{{Dir: filepath.Join(root, "unified"), V2: true}, {Dir: filepath.Join(root, "devices"), Controllers: []string{"devices"}}}}
	if _, err := g.NewAppGroup("app", Limits{Devices: true}); err == nil || !strings.Contains(err.Error(), "devices hierarchy") {
		t.Fatalf("got %v, want a refusal", err)
	}
	g = &Group{Dirs: []string{filepath.Join(root, "pids/pod")}, v1: map[string]string{}, mounts: []Mount{{Dir: filepath.Join(root, "pids"), Controllers: []string{"pids"}}}}
	if _, err := g.NewAppGroup("app", Limits{Devices: true}); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("got %v, want a refusal", err)
	}
}

// On the unified hierarchy, which this host mounts beside its v1 ones: a
// device program attached to a cgroup2 folder holds the processes in it
// to DefaultDevices, whatever the v1 controller allows them.
func TestDevicesV2RealGroup(t *testing.T) {
	requireRoot(t)
	mounts, own, err := readSelf()
	if err != nil {
		t.Fatal(err)
	}
	var unified string
	for _, m := range mounts {
		if m.V2 {
			unified = m.Dir
		}
	}
	if unified == "" {
		t.Fatal("this host mounts no cgroup2 hierarchy")
	}
	pod := filepath.Join(unified, own[""], "podctl-"+testPodName(t))
	// The selection: a host without the v1 controller (as this group's
	// mount table says) gets the program in the app's unified folder.
	g := &Group{Dirs: []string{pod}, unified: true, v1: map[string]string{}, mounts: []Mount{{Dir: unified, V2: true}}}
	if err := g.Make(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
	})
	dirs, err := g.NewAppGroup("app", Limits{Devices: true})
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(pod, "app")
	if !reflect.DeepEqual(dirs, []string{app}) {
		t.Fatalf("app folders %v, want [%s]", dirs, app)
	}
	checkConfined(t, runDevicesChild(t, "", app))
	// A folder below it is held too: its processes cannot leave the
	// policy by making a child cgroup.
	below := filepath.Join(app, "below")
	if err := os.Mkdir(below, 0o755); err != nil {
		t.Fatal(err)
	}
	checkConfined(t, runDevicesChild(t, "", below))
}

// DeferDevices keeps the devices folders out of the list and moves the
// calling thread into the deepest of them when asked, not before.
func TestDeferDevicesRealGroup(t *testing.T) {
	g, mounts := newV1DevicesPod(t)
	dirs, err := g.NewAppGroup("app", Limits{Devices: true})
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]string(nil), g.Dirs...), dirs...)
	dev := filepath.Join(g.v1["devices"], "app")
	type result struct {
		rest          []string
		before, after string
		err           error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread changes cgroup for good: it ends with the goroutine.
		runtime.LockOSThread()
		var r result
		var devices *DeferredJoin
		r.rest, devices, r.err = DeferDevices(all)
		if r.err == nil {
			r.before = threadDevices()
			r.err = devices.Join()
			r.after = threadDevices()
			// Back where it was: a thread whose locked goroutine ends may
			// live on (the main thread does), and keep the folder busy.
			if err := os.WriteFile(filepath.Join(devicesMount(mounts), r.before, "tasks"), []byte("0"), 0); err != nil && r.err == nil {
				r.err = err
			}
		}
		ch <- r
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, d := range r.rest {
		if d == dev || d == g.v1["devices"] {
			t.Fatalf("rest %v holds a devices folder", r.rest)
		}
	}
	if len(r.rest) != len(all)-2 {
		t.Fatalf("rest %v of %v", r.rest, all)
	}
	rel := strings.TrimPrefix(dev, devicesMount(mounts))
	if r.before == rel || r.after != rel {
		t.Fatalf("thread's devices cgroup %q before the join and %q after, want %q after only", r.before, r.after, rel)
	}
}

// newV1DevicesPod makes a pod group with a folder in the host's v1
// devices hierarchy, removed when the test ends; it fails the test on a
// host without one (TestDevicesV2RealGroup covers the policy there).
func newV1DevicesPod(t *testing.T) (*Group, []Mount) {
	t.Helper()
	requireRoot(t)
	mounts, _, err := readSelf()
	if err != nil {
		t.Fatal(err)
	}
	if !hasV1Devices(mounts) {
		t.Fatal("this host has no v1 devices hierarchy: TestDevicesV2RealGroup covers the policy here")
	}
	g, err := NewPodGroup(testPodName(t), "devices")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
	})
	return g, mounts
}

func hasV1Devices(mounts []Mount) bool {
	return devicesMount(mounts) != ""
}

// threadDevices is the calling thread's cgroup in the devices hierarchy.
func threadDevices() string {
	b, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return err.Error()
	}
	own, err := ParseProcCgroup(strings.NewReader(string(b)))
	if err != nil {
		return err.Error()
	}
	return own["devices"]
}

// Folders of no devices hierarchy are all left to join at once.
func TestDeferDevicesNone(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	rest, devices, err := DeferDevices(dirs)
	if err != nil || devices != nil || !reflect.DeepEqual(rest, dirs) {
		t.Fatalf("got %v, %v, %v", rest, devices, err)
	}
	if err := devices.Join(); err != nil {
		t.Fatal(err)
	}
}

// The devices given to a pod (Limits.ExtraDevices) are allowed beside
// DefaultDevices, which stay as they are.
func TestDevicesV1Extra(t *testing.T) {
	g, _ := newV1DevicesPod(t)
	extra := []Device{{'c', 10, 229, "rw"}, {'b', 8, 0, "r"}}
	if _, err := g.NewAppGroup("app", Limits{Devices: true, ExtraDevices: extra}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(g.v1["devices"], "app", "devices.list"))
	if err != nil {
		t.Fatal(err)
	}
	want := "c 1:3 rw\nc 1:5 rw\nc 1:7 rw\nc 1:8 rw\nc 1:9 rw\nc 5:0 rw\nc 5:1 rw\nc 5:2 rw\nc 136:* rw\nc 10:229 rw\nb 8:0 r\n"
	if string(b) != want {
		t.Fatalf("devices.list:\n%s\nwant:\n%s", b, want)
	}
	if len(DefaultDevices) != 9 {
		t.Fatalf("DefaultDevices changed: %v", DefaultDevices)
	}
	if _, err := deviceProgram(append(DefaultDevices[:len(DefaultDevices):len(DefaultDevices)], extra...)); err != nil {
		t.Fatal(err)
	}
}
