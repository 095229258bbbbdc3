package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// devicesScript tries, as root in the app, what the device policy
// refuses (making a node; opening the host's kernel log through a node a
// volume gives it) and what it allows (the standard nodes), one line each,
// with the error a refusal gives: EPERM is the device cgroup's.
const devicesScript = `
err=$(busybox mknod /tmp/k c 1 11 2>&1) && echo mknod=ok || echo "mknod=${err##*: }"
err=$(busybox mknod /tmp/n c 1 3 2>&1) && echo mknod-null=ok || echo "mknod-null=${err##*: }"
err=$( (: > /vol/kmsg) 2>&1) && echo kmsg=ok || echo "kmsg=${err##*: }"
echo x > /dev/null && echo null=ok
echo urandom=$(head -c 8 /dev/urandom | wc -c)
(: < /dev/ptmx) && echo ptmx=ok
`

// Apps of the isolated flavors may open the standard device nodes only and
// make none; fly, which promises no isolation, is the control: the same
// app there does all of it, so the refusals are the policy's.
func TestDevicePolicy(t *testing.T) { forEachFlavor(t, testDevicePolicy) }

func testDevicePolicy(t *testing.T, e *env) {
	e.fetchBusybox()
	// A node of /dev/kmsg (1:11) where the app can reach it: the policy,
	// not the lack of a node, must stop it.
	vol := t.TempDir()
	if err := unix.Mknod(filepath.Join(vol, "kmsg"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))); err != nil {
		t.Fatal(err)
	}
	r := e.podctl("run", "--volume", "vol,kind=host,source="+vol,
		"example.com/busybox", "--mount", "volume=vol,target=/vol",
		"--exec", "/bin/sh", "--", "-c", devicesScript)
	const eperm = "Operation not permitted"
	want := "mknod=" + eperm + "\nmknod-null=" + eperm + "\nkmsg=" + eperm + "\nnull=ok\nurandom=8\nptmx=ok\n"
	if e.flavor == "fly" {
		want = "mknod=ok\nmknod-null=ok\nkmsg=ok\nnull=ok\nurandom=8\nptmx=ok\n"
	}
	if r.code != 0 || r.stdout != want {
		t.Fatalf("got %s\nwant stdout:\n%s", r, want)
	}
}

// A command entered in an app is held to the app's device policy: it
// joins the app's cgroups, the devices one among them.
func TestDevicePolicyEnter(t *testing.T) {
	forEachIsolatedFlavor(t, testDevicePolicyEnter)
}

func testDevicePolicyEnter(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	r := e.enterUntil(uuid, "/bin/sh", "-c", `err=$(busybox mknod /tmp/k c 1 11 2>&1) && echo mknod=ok || echo "mknod=${err##*: }"`)
	want := "mknod=Operation not permitted\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("got %s\nwant stdout:\n%s", r, want)
	}
}

// A read-only host volume whose source has a mount below it is read-only
// there too, and recursive=false binds the source without that mount.
func TestReadOnlyVolumeSubmounts(t *testing.T) { forEachFlavor(t, testReadOnlyVolumeSubmounts) }

func testReadOnlyVolumeSubmounts(t *testing.T, e *env) {
	e.fetchBusybox()
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k,mode=0777"); err != nil {
		t.Fatal(err)
	}
	// Before the folder's own removal.
	t.Cleanup(func() {
		if err := unix.Unmount(sub, unix.MNT_DETACH); err != nil {
			t.Error(err)
		}
	})
	file := filepath.Join(sub, "file")
	if err := os.WriteFile(file, []byte("host\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	script := `cat /ro/sub/file
(echo app > /ro/sub/file) 2>/dev/null && echo sub-written || echo sub-refused
(echo app > /ro/sub/new) 2>/dev/null && echo sub-created || echo sub-create-refused
(echo app > /ro/top) 2>/dev/null && echo top-written || echo top-refused
test -e /flat/sub/file && echo flat-shows-submount || echo flat-alone
`
	r := e.podctl("run",
		"--volume", "ro,kind=host,source="+src+",readOnly=true",
		"--volume", "flat,kind=host,source="+src+",readOnly=true,recursive=false",
		"example.com/busybox", "--mount", "volume=ro,target=/ro", "--mount", "volume=flat,target=/flat",
		"--exec", "/bin/sh", "--", "-c", script)
	want := "host\nsub-refused\nsub-create-refused\ntop-refused\nflat-alone\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("got %s\nwant stdout:\n%s", r, want)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "host\n" {
		t.Fatalf("the host's file below the read-only volume is now %q (%v)", b, err)
	}
	entries, err := os.ReadDir(sub)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	if strings.Join(names, ",") != "file" {
		t.Fatalf("the host's mount below the read-only volume holds %v", names)
	}
}
