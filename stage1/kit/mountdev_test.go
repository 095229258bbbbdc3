package kit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
)

// An app's /dev is made with mknod; by a process already in an app's
// device cgroup, which refuses mknod, of read-only binds of the same
// nodes, which the app can use and not change.
func TestMountDevInDeviceCgroup(t *testing.T) {
	g, err := cgroup.NewPodGroup(fmt.Sprintf("test-mountdev-%d", os.Getpid()), "devices")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
	})
	dirs, err := g.NewAppGroup("app", cgroup.Limits{Devices: true})
	if err != nil {
		t.Fatal(err)
	}
	free, confined := t.TempDir(), t.TempDir()
	inMountNamespace(t, func() (err error) {
		if err := mountDev(free, &AppSpec{}); err != nil {
			return err
		}
		if err := checkNodes(free, false); err != nil {
			return err
		}
		_, devices, err := cgroup.DeferDevices(dirs)
		if err != nil {
			return err
		}
		if devices == nil {
			return errors.New("this host has no v1 devices hierarchy: the app's policy cannot hold this thread")
		}
		own, err := os.ReadFile("/proc/thread-self/cgroup")
		if err != nil {
			return err
		}
		if err := devices.Join(); err != nil {
			return err
		}
		// Back where it was at the end: the thread may outlive the test,
		// and would keep the app's folder busy.
		defer func() {
			if lerr := leaveDevices(string(own)); err == nil {
				err = lerr
			}
		}()
		if err := unix.Mknod(filepath.Join(confined, "n"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != unix.EPERM {
			return fmt.Errorf("mknod in the app's device cgroup: %v, want EPERM", err)
		}
		if err := mountDev(confined, &AppSpec{}); err != nil {
			return err
		}
		return checkNodes(confined, true)
	})
}

// checkNodes checks root's /dev/null and /dev/urandom: the right devices,
// usable, and, when bound, on read-only mounts a chmod cannot pass.
func checkNodes(root string, bound bool) error {
	for _, d := range devices {
		var st unix.Stat_t
		p := filepath.Join(root, "dev", d.name)
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(d.major, d.minor) {
			return fmt.Errorf("%s is not device %d:%d", p, d.major, d.minor)
		}
		var fs unix.Statfs_t
		if err := unix.Statfs(p, &fs); err != nil {
			return err
		}
		if ro := fs.Flags&unix.ST_RDONLY != 0; ro != bound {
			return fmt.Errorf("%s: read-only mount %v, want %v", p, ro, bound)
		}
		if bound {
			if err := unix.Chmod(p, 0o600); err != unix.EROFS {
				return fmt.Errorf("chmod %s: %v, want EROFS", p, err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "dev/null"), []byte("x"), 0); err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(root, "dev/urandom"))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Read(make([]byte, 8))
	return err
}

// leaveDevices moves the calling thread back to the devices cgroup that
// own, a /proc/thread-self/cgroup, names.
func leaveDevices(own string) error {
	cgs, err := cgroup.ParseProcCgroup(strings.NewReader(own))
	if err != nil {
		return err
	}
	mi, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return err
	}
	defer mi.Close()
	mounts, err := cgroup.ParseMountinfo(mi)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if len(m.Controllers) == 1 && m.Controllers[0] == "devices" {
			return os.WriteFile(filepath.Join(m.Dir, cgs["devices"], "tasks"), []byte("0"), 0)
		}
	}
	return errors.New("no devices hierarchy to go back to")
}
