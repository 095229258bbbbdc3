package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// usersdUIDMap reads the line of /proc/self/uid_map an app printed, and
// fails unless it maps the pod's 65536 ids from a host uid of their own.
func usersdUIDMap(t *testing.T, out string) uint32 {
	t.Helper()
	// The first line of three fields: apps' outputs may interleave.
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if len(strings.Fields(l)) == 3 {
			line = l
			break
		}
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "0" || f[2] != "65536" {
		t.Fatalf("the pod's uid_map is %q, want 0 UID 65536\n%s", line, out)
	}
	uid, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil || uid < 65536 {
		t.Fatalf("the pod's root is host uid %s, want one of 65536 or more", f[1])
	}
	return uint32(uid)
}

// usersdOwner is the host uid that owns path.
func usersdOwner(t *testing.T, path string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid
}

// TestPrivateUsersSystemd: on the systemd flavor, a --private-users pod's
// root is not the host's: it is a host uid of the pod's own range, it may
// write its root and a host volume, with its image tree idmapped or, with
// --private-users-ownership=chown, a chowned copy; its network is one it
// cannot change but may listen on below port 1024; no hostile way out
// works; its systemd cannot write the pod's records; podctl enter refuses
// it.
func TestPrivateUsersSystemd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "systemd"
	e.fetchBusybox()
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "host"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `cat /proc/self/uid_map; test "$(id -u)" = 0 || { echo "uid $(id -u)"; exit 3; }
touch /written && echo root-ok
cat /vol/host && echo "$1" > /vol/$1 && echo vol-ok
ls -ln /bin/busybox`
	uids := map[uint32]string{}
	for _, ownership := range []string{"map", "chown"} {
		t.Run(ownership, func(t *testing.T) {
			uuidFile := filepath.Join(t.TempDir(), "uuid")
			r := e.podctl("run", "--net=none", "--uuid-file-save="+uuidFile,
				"--private-users", "--private-users-ownership="+ownership,
				"--volume=v,kind=host,source="+vol,
				"example.com/busybox", "--mount=volume=v,target=/vol",
				"--exec", "/bin/sh", "--", "-c", script, "sh", ownership)
			if r.code != 0 {
				t.Fatalf("podctl run: %s", r)
			}
			uid := usersdUIDMap(t, r.stdout)
			if other, ok := uids[uid]; ok {
				t.Errorf("the %s pod's range starts at %d, as the %s pod's does", ownership, uid, other)
			}
			uids[uid] = ownership
			for _, want := range []string{"root-ok", "from the host", "vol-ok"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("the app did not print %q:\n%s", want, r)
				}
			}
			// The image's root-owned files are the pod's root's.
			if f := strings.Fields(lastLine(r.stdout)); len(f) < 4 || f[2] != "0" {
				t.Errorf("/bin/busybox in the pod: %q, want it owned by 0", lastLine(r.stdout))
			}
			// The volume is idmapped: what the pod's root writes is the
			// host's root's on disk.
			if got := usersdOwner(t, filepath.Join(vol, ownership)); got != 0 {
				t.Errorf("the file the pod's root wrote in the volume is host uid %d's, want 0's", got)
			}
			uuid := strings.TrimSpace(usersdRead(t, uuidFile))
			appDir := filepath.Join(e.dir, "pods", "run", uuid, "apps", "busybox")
			written := filepath.Join(appDir, "upper", "written")
			if ownership == "chown" {
				written = filepath.Join(appDir, "rootfs", "written")
				if got := usersdOwner(t, filepath.Join(appDir, "rootfs", "bin", "busybox")); got != uid {
					t.Errorf("the chowned copy's /bin/busybox is host uid %d's, want %d's", got, uid)
				}
			}
			if got := usersdOwner(t, written); got != uid {
				t.Errorf("the file the pod's root wrote in its root is host uid %d's, want %d's (the pod's root)", got, uid)
			}
		})
	}

	t.Run("network", func(t *testing.T) {
		r := e.podctl("run", "--private-users", "example.com/busybox",
			"--exec", "/bin/sh", "--", "-c", "cat /proc/self/uid_map; /bin/busybox ip -4 -o addr; /bin/busybox ip link set lo down && echo CHANGED\n"+
				"/bin/busybox nc -l -p 80 & sleep 0.5; kill $! && echo BOUND; true")
		if r.code != 0 {
			t.Fatalf("podctl run on the tests' network: %s", r)
		}
		usersdUIDMap(t, r.stdout)
		if !strings.Contains(r.stdout, "eth0") {
			t.Errorf("the pod has no eth0 on the tests' network:\n%s", r)
		}
		if !strings.Contains(r.stdout, "BOUND") {
			t.Errorf("the pod's root could not listen on port 80:\n%s", r)
		}
		if strings.Contains(r.stdout, "CHANGED") {
			t.Errorf("the pod's root changed the pod's network, which the host's root made:\n%s", r)
		}
	})

	// A user of the image other than root is the pod's, and writes where
	// the image lets it.
	t.Run("nobody", func(t *testing.T) {
		r := e.podctl("run", "--net=none", "--private-users", "example.com/busybox", "--user=nobody", "--group=nogroup",
			"--exec", "/bin/sh", "--", "-c", "cat /proc/self/uid_map; id -u; touch /tmp/mine && echo tmp-ok; touch /bin/x || echo bin-refused")
		if r.code != 0 {
			t.Fatalf("podctl run --user=nobody: %s", r)
		}
		usersdUIDMap(t, r.stdout)
		for _, want := range []string{"\n65534\n", "tmp-ok", "bin-refused"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the app did not print %q:\n%s", strings.TrimSpace(want), r)
			}
		}
	})

	// Two apps of one image share its tree, shown through the pod's
	// mapping once, and an empty volume.
	t.Run("two-apps", func(t *testing.T) {
		r := e.podctl("run", "--net=none", "--private-users", "--volume=v,kind=empty",
			"example.com/busybox", "--name=one", "--mount=volume=v,target=/shared",
			"--exec", "/bin/sh", "--", "-c", "cat /proc/self/uid_map; echo from-one > /shared/x",
			"---", "example.com/busybox", "--name=two", "--mount=volume=v,target=/shared",
			"--exec", "/bin/sh", "--", "-c", "while ! test -s /shared/x; do sleep 0.1; done; cat /shared/x; touch /two && echo two-ok")
		if r.code != 0 {
			t.Fatalf("podctl run of two apps: %s", r)
		}
		usersdUIDMap(t, r.stdout)
		for _, want := range []string{"from-one", "two-ok"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the apps did not print %q:\n%s", want, r)
			}
		}
	})

	// The hostile app tries every way out as the pod's root, on the
	// tests' network, where the app's /sys is the pod's, bound.
	t.Run("hostile", func(t *testing.T) {
		h := newHostile(t, e)
		for _, user := range []bool{false, true} {
			ways := waysFor(e.flavor, user)
			args := []string{"run", "--private-users", "example.com/hostile"}
			if user {
				args = append(args, "--user", "nobody", "--group", "nogroup")
			}
			args = append(append(append(args, "--exec", "/bin/hostile", "--"), h.args...), wayNames(ways)...)
			checkWays(t, "systemd --private-users app (user "+strconv.FormatBool(user)+")", ways, e.podctl(args...))
		}
	})

	// READY=1 goes to a socket of stage1's, the host's root's, through
	// the pod's mapping.
	t.Run("notify", func(t *testing.T) {
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		r := e.podctl("run", "--net=none", "--private-users", "--ready=notify", "--uuid-file-save="+uuidFile,
			"example.com/busybox", "--exec", "/bin/sh", "--", "-c", "cat /proc/self/uid_map; /bin/notify READY=1; sleep 1")
		if r.code != 0 {
			t.Fatalf("podctl run --ready=notify: %s", r)
		}
		usersdUIDMap(t, r.stdout)
		uuid := strings.TrimSpace(usersdRead(t, uuidFile))
		if st := e.must("status", "--format=json", uuid); !strings.Contains(st, `"state":"ready"`) {
			t.Errorf("the pod was never ready: %s", st)
		}
	})

	// The pod's systemd, the pod's root, writes the apps' folders and the
	// hooks' one, and cannot write the records podctl acts on: its view of
	// the pod directory is read-only, and stays so.
	t.Run("records", func(t *testing.T) {
		cmd, uuid := e.startPod("--net=none", "--private-users", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
		defer func() {
			e.podctl("stop", "--force", uuid)
			cmd.Wait()
		}()
		pid1 := ""
		for _, d := range e.podCgroups(uuid) {
			if b, err := os.ReadFile(filepath.Join(d, "payload", "init.scope", "cgroup.procs")); err == nil && len(strings.Fields(string(b))) > 0 {
				pid1 = strings.Fields(string(b))[0]
				break
			}
		}
		if pid1 == "" {
			t.Fatalf("pod %s: no cgroup holds its systemd (payload/init.scope below %v)", uuid, e.podCgroups(uuid))
		}
		// As the pod's root, in the pod's systemd's mount namespace.
		out, err := exec.Command("nsenter", "-t", pid1, "-U", "-m", "/bin/sh", "-c", `
echo 1 > /podctl/pod/pid && echo WROTE-PID
echo x > /podctl/pod/stage1/cgroup && echo WROTE-CGROUP
mount -o remount,rw /podctl/pod 2>/dev/null && echo REMOUNTED
touch /podctl/pod/stage1/hooks/probe && echo hooks-ok
touch /podctl/pod/apps/busybox/probe && echo app-ok
rm -f /podctl/pod/stage1/hooks/probe /podctl/pod/apps/busybox/probe
true`).CombinedOutput()
		if err != nil {
			t.Fatalf("nsenter into the pod's systemd (pid %s): %v: %s", pid1, err, out)
		}
		for _, bad := range []string{"WROTE-PID", "WROTE-CGROUP", "REMOUNTED"} {
			if strings.Contains(string(out), bad) {
				t.Errorf("the pod's root could write the pod's records (%s):\n%s", bad, out)
			}
		}
		for _, want := range []string{"hooks-ok", "app-ok"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the pod's root could not write what its hooks write (%s):\n%s", want, out)
			}
		}
	})

	t.Run("enter", func(t *testing.T) {
		cmd, uuid := e.startPod("--net=none", "--private-users", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
		defer func() {
			e.podctl("stop", "--force", uuid)
			cmd.Wait()
		}()
		r := e.podctl("enter", uuid, "/bin/id")
		if r.code != 254 || !strings.Contains(r.stderr, "private users") {
			t.Errorf("enter of a pod with private users: %s; want it refused (254), naming the private users", r)
		}
	})
}

// TestPrivateUsersFlyRefused: fly does not isolate, and cannot give a pod
// users of its own.
func TestPrivateUsersFlyRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	r := e.podctl("run", "--private-users", "example.com/busybox", "--exec", "/bin/true")
	if r.code != 254 || !strings.Contains(r.stderr, "fly flavor") {
		t.Errorf("--private-users on fly: %s; want it refused (254), naming the flavor", r)
	}
}

// usersdRead reads a file the test needs.
func usersdRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
