package kit

import (
	"os"
	"path/filepath"
	"podctl/cgroup"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inAppNamespace runs check on a thread of its own that has entered ns,
// and lets the thread end.
func inAppNamespace(t *testing.T, ns *AppNamespace, check func() error) {
	t.Helper()
	var err error
	OnOwnThread(func() {
		if err = ns.Enter(); err == nil {
			err = check()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sharedFolder is a tmpfs mounted for the test, its propagation shared,
// as the host's root is under systemd: a mount made below it in a
// namespace that did not make its mounts private shows in the host's.
func sharedFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

// noViews is an app with no cgroups to show.
func noViews() ([]cgroup.View, error) { return nil, nil }

// TestAppNamespaceAhead checks that an app's mount namespace made ahead
// from the trees has the app's root as its root, with the app's image,
// /dev, /sys and volumes, and, once entered, /proc and its masks; that
// nothing of it shows in the host's namespace; and that neither the
// namespace's nor the caller's thread is left changed.
func TestAppNamespaceAhead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts and must run as root")
	}
	s := overlaySpecIn(t, sharedFolder(t), "a")
	vol := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(vol, []byte("volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Mounts = []MountSpec{{Source: vol, Target: "/etc/hosts", ReadOnly: true}}
	if !CanMakeAppNamespace(s) {
		t.Fatal("CanMakeAppNamespace refuses a plain app")
	}
	root, err := MakeRootTree(s)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := MakeDevTree(s)
	if err != nil {
		t.Fatal(err)
	}
	hostNS, _ := os.Readlink("/proc/thread-self/ns/mnt")
	ns, err := MakeAppNamespace(s, noViews, Ahead{Root: root, Dev: dev}, os.Getpid())
	root.Close()
	dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if now, _ := os.Readlink("/proc/thread-self/ns/mnt"); now != hostNS {
		t.Fatalf("the caller's thread moved to mount namespace %s", now)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), s.Rootfs) {
		t.Fatalf("the app's root shows in the host's namespace:\n%s", b)
	}
	inAppNamespace(t, ns, func() error {
		if b, err := os.ReadFile("/image-file"); err != nil || string(b) != "a" {
			t.Errorf("/image-file: %q, %v; want the image's", b, err)
		}
		if b, err := os.ReadFile("/etc/hosts"); err != nil || string(b) != "volume" {
			t.Errorf("/etc/hosts: %q, %v; want the volume's", b, err)
		}
		var st unix.Stat_t
		if err := unix.Stat("/dev/null", &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("/dev/null: %v, rdev %d:%d", err, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if _, err := os.Stat("/proc/self/status"); err != nil {
			t.Errorf("no /proc: %v", err)
		}
		if err := os.WriteFile("/proc/sys/kernel/hostname", []byte("x"), 0); err == nil {
			t.Errorf("/proc/sys is writable")
		}
		if _, err := os.Stat("/sys/kernel"); err != nil {
			t.Errorf("no /sys: %v", err)
		}
		b, err := os.ReadFile("/proc/thread-self/mountinfo")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(l)
			if len(f) < 5 || !(f[4] == "/" || strings.HasPrefix(f[4], "/dev") || strings.HasPrefix(f[4], "/proc") || strings.HasPrefix(f[4], "/sys") || f[4] == "/etc/hosts") {
				t.Errorf("a mount not the app's: %s", l)
			}
		}
		return nil
	})
}

// TestAppNamespaceFails checks that a namespace that cannot be made says
// why, and that nothing of it shows in the host's namespace.
func TestAppNamespaceFails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts and must run as root")
	}
	s := overlaySpecIn(t, sharedFolder(t), "a")
	s.Mounts = []MountSpec{{Source: filepath.Join(t.TempDir(), "missing"), Target: "/data"}}
	root, err := MakeRootTree(s)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := MakeAppNamespace(s, noViews, Ahead{Root: root}, os.Getpid())
	root.Close()
	if err == nil || !strings.Contains(err.Error(), "app a: ") || !strings.Contains(err.Error(), "missing") {
		ns.Close()
		t.Fatalf("MakeAppNamespace with a volume that does not exist: %v", err)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), s.Rootfs) {
		t.Fatalf("the app's root shows in the host's namespace:\n%s", b)
	}
}

// TestAppNamespaceVolumeOnProc checks that an app given a volume on
// /proc after its namespace was begun gets none: the init's /proc would
// hide the volume.
func TestAppNamespaceVolumeOnProc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts and must run as root")
	}
	s := overlaySpec(t, "a")
	if !CanBeginAppNamespace(s) {
		t.Fatal("CanBeginAppNamespace refuses a plain app")
	}
	views := func() ([]cgroup.View, error) {
		s.Mounts = append(s.Mounts, MountSpec{Source: t.TempDir(), Target: "/proc/driver"})
		return nil, nil
	}
	ns, err := MakeAppNamespace(s, views, Ahead{}, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), "/proc") {
		ns.Close()
		t.Fatalf("MakeAppNamespace with a volume on /proc: %v", err)
	}
}

// TestCanMakeAppNamespace: not for an app with private users, nor with a
// volume or tmpfs on /proc, which the init's /proc would hide.
func TestCanMakeAppNamespace(t *testing.T) {
	for _, c := range []struct {
		s    AppSpec
		want bool
	}{
		{AppSpec{}, true},
		{AppSpec{Mounts: []MountSpec{{Target: "/var/proc"}}}, true},
		{AppSpec{Mounts: []MountSpec{{Target: "/proc/driver"}}}, false},
		{AppSpec{Mounts: []MountSpec{{Target: "/proc"}}}, false},
		{AppSpec{Tmpfs: []TmpfsSpec{{Target: "//proc/../proc/x"}}}, false},
	} {
		if got := CanMakeAppNamespace(&c.s); got != c.want {
			t.Errorf("CanMakeAppNamespace(%+v) = %v; want %v", c.s, got, c.want)
		}
	}
}
