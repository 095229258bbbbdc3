package tests

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// readonlyScript writes to the root, /tmp, /run and a volume, one line
// each, with the error a refusal gives, and shows the modes of /tmp and
// /run.
const readonlyScript = `
err=$( (: > /x) 2>&1) && echo root=ok || echo "root=${err##*: }"
(: > /tmp/t) && echo tmp=ok
(: > /run/r) && echo run=ok
(: > /vol/v) && echo vol=ok
`

// --readonly-rootfs makes the app's root read-only, and leaves /tmp, /run
// (fresh tmpfs folders) and a read-write volume writable; /etc/hosts, a
// bind of the pod's, is still there. Without it, the root is writable.
func TestReadonlyRootfs(t *testing.T) { forEachFlavor(t, testReadonlyRootfs) }

func testReadonlyRootfs(t *testing.T, e *env) {
	e.fetchBusybox()
	vol := t.TempDir()
	script := readonlyScript + `echo modes=$(stat -c %a /tmp /run)` + "\n"
	if e.flavor != "fly" {
		script += `test -s /etc/hosts && echo hosts=ok` + "\n"
	}
	run := func(flags ...string) result {
		args := append([]string{"run", "--volume", "vol,kind=host,source=" + vol, "example.com/busybox",
			"--mount", "volume=vol,target=/vol"}, flags...)
		return e.podctl(append(args, "--exec", "/bin/sh", "--", "-c", script)...)
	}
	hosts := "hosts=ok\n"
	if e.flavor == "fly" {
		hosts = ""
	}
	r := run("--readonly-rootfs")
	want := "root=Read-only file system\ntmp=ok\nrun=ok\nvol=ok\nmodes=1777 755\n" + hosts
	if r.code != 0 || r.stdout != want {
		t.Fatalf("with --readonly-rootfs: got %s\nwant stdout:\n%s", r, want)
	}
	r = run("--readonly-rootfs=false")
	// The image has no /run of its own.
	if r.code != 0 || !strings.HasPrefix(r.stdout, "root=ok\ntmp=ok\nvol=ok\n") {
		t.Fatalf("without a read-only root: got %s", r)
	}
}

// A read-only volume stays read-only in a read-only root, and a command
// entered in the app sees the read-only root too.
func TestReadonlyRootfsEnter(t *testing.T) { forEachIsolatedFlavor(t, testReadonlyRootfsEnter) }

func testReadonlyRootfsEnter(t *testing.T, e *env) {
	e.fetchBusybox()
	vol := t.TempDir()
	cmd, uuid := e.startPod("--volume", "vol,kind=host,source="+vol+",readOnly=true", "example.com/busybox",
		"--readonly-rootfs", "--mount", "volume=vol,target=/vol", "--exec", "/bin/sleep", "--", "600")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	r := e.enterUntil(uuid, "/bin/sh", "-c", `for f in /x /vol/v /tmp/t; do err=$( (: > $f) 2>&1) && echo $f=ok || echo "$f=${err##*: }"; done`)
	want := "/x=Read-only file system\n/vol/v=Read-only file system\n/tmp/t=ok\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("got %s\nwant stdout:\n%s", r, want)
	}
}

// deviceScript opens the devices given with --device and, through nodes a
// volume holds, devices that were not given, one line each.
const deviceScript = `
echo myzero=$(head -c 4 /dev/myzero 2>/dev/null | wc -c)
for f in /dev/myfuse /vol/fuse /vol/loop-control; do
  err=$( (: < $f) 2>&1) && echo "$f=ok" || echo "$f=${err##*: }"
done
`

// --device gives every app a host device: a node in its /dev, which its
// device policy lets it open. Devices not given stay refused (EPERM, the
// policy's), even through a node the app can reach.
func TestDeviceFlag(t *testing.T) { forEachIsolatedFlavor(t, testDeviceFlag) }

func testDeviceFlag(t *testing.T, e *env) {
	e.fetchBusybox()
	host, vol := t.TempDir(), t.TempDir()
	// Nodes of the host's zero (1:5), fuse (10:229) and loop-control
	// (10:237); opening fuse and loop-control does nothing by itself.
	for _, n := range []struct {
		dir, name    string
		major, minor uint32
	}{
		{host, "zero", 1, 5}, {host, "fuse", 10, 229},
		{vol, "fuse", 10, 229}, {vol, "loop-control", 10, 237},
	} {
		if err := unix.Mknod(filepath.Join(n.dir, n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	run := func(flags ...string) result {
		args := append([]string{"run", "--volume", "vol,kind=host,source=" + vol}, flags...)
		return e.podctl(append(args, "example.com/busybox", "--mount", "volume=vol,target=/vol",
			"--exec", "/bin/sh", "--", "-c", deviceScript)...)
	}
	const eperm = "Operation not permitted"
	r := run("--device="+filepath.Join(host, "zero")+":/dev/myzero", "--device="+filepath.Join(host, "fuse")+":/dev/myfuse:r")
	want := "myzero=4\n/dev/myfuse=ok\n/vol/fuse=ok\n/vol/loop-control=" + eperm + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("with --device: got %s\nwant stdout:\n%s", r, want)
	}
	r = run()
	want = "myzero=0\n/dev/myfuse=no such file\n/vol/fuse=" + eperm + "\n/vol/loop-control=" + eperm + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("without --device: got %s\nwant stdout:\n%s", r, want)
	}
}

// A bad --device is refused in one line before any pod exists, and fly
// refuses --device.
func TestDeviceRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	for _, c := range []struct{ flags, want string }{
		{"--device=/dev/no-such-device", "no such file or directory"},
		{"--device=/etc/passwd:/dev/p", "is not a device node"},
		{"--device=dev/zero", "is not a clean absolute path"},
		{"--device=/dev/zero:/tmp/zero", "is not below /dev"},
		{"--device=/dev/zero:/dev/null", "every app's /dev has /dev/null"},
		{"--device=/dev/zero:/dev/z:rwx", "is not letters of rwm"},
		{"--device=/dev/zero:/dev/z:m", "gives neither r nor w"},
		{"--device=/dev/zero:/dev/a:rw:x", "is not /dev/X[:PATH][:rwm]"},
		{"--stage1=fly --device=/dev/fuse", "fly app sees the host's /dev already"},
	} {
		args := append(append([]string{"run"}, strings.Fields(c.flags)...), "example.com/busybox", "--exec", "/bin/true")
		r := e.podctl(args...)
		if r.code != 254 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: got %s\nwant exit 254 and one line with %q", c.flags, r, c.want)
		}
	}
	if dirs := e.podDirs(); len(dirs) != 0 {
		t.Fatalf("pods left by refused commands: %v", dirs)
	}
}
