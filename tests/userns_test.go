package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privateUsers is a pod's range as status --format=json shows it.
type privateUsers struct {
	UID       uint32 `json:"uid"`
	GID       uint32 `json:"gid"`
	Count     uint32 `json:"count"`
	Ownership string `json:"ownership"`
}

// podUsers reads the range of pod uuid from its status.
func (e *env) podUsers(uuid string) *privateUsers {
	e.t.Helper()
	var st struct {
		PrivateUsers *privateUsers `json:"private_users"`
	}
	out := e.must("status", "--format=json", uuid)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("status --format=json printed %q: %v", out, err)
	}
	return st.PrivateUsers
}

// uidMap reads the first line of a uid_map an app printed: inside, host,
// count.
func uidMap(t *testing.T, out string) (inside, host, count uint64) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var err error
		var n [3]uint64
		for i := range f {
			if n[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				break
			}
		}
		if err == nil {
			return n[0], n[1], n[2]
		}
	}
	t.Fatalf("no uid_map line in %q", out)
	return
}

// The flavors that keep --private-users.
var privateUsersFlavors = []string{"native"}

// A --private-users pod's root is not the host's: its ids map to a range
// of 65536 host ids of its own, which status shows; the root still owns
// its tree (idmapped, nothing copied), writes it, removes the image's
// files and chowns them, writes a host volume, whose files keep the
// host's ids on disk, and binds port 80. An entered command gets the same
// mapping.
func TestPrivateUsers(t *testing.T) { forFlavors(t, privateUsersFlavors, testPrivateUsers) }

func testPrivateUsers(t *testing.T, e *env) {
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "host"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; ls -lnd / /bin/busybox;
		touch /rootfile && echo wrote-root; rm /bin/ls && echo removed-image-file;
		chown 1000:1000 /etc/passwd && echo chowned;
		echo pod > /v/frompod && echo >> /v/host && echo wrote-volume;
		nc -l -p 80 -w 1 2>&1; exec sleep 600`
	cmd, uuid := e.startPod("--insecure-options=image", "--net=none", "--private-users",
		"--volume=v,kind=host,source="+vol, busyboxACI, "--mount=volume=v,target=/v",
		"--exec", "/bin/sh", "--", "-c", script)
	defer cmd.Wait()
	defer e.podctl("stop", uuid)
	u := e.podUsers(uuid)
	if u == nil || u.UID < 65536 || u.GID != u.UID || u.Count != 65536 || u.Ownership != "map" {
		t.Fatalf("status shows private users %+v: want 65536 ids from a uid >= 65536, mapped", u)
	}
	r := e.enterUntilOutput(uuid, "/bin/sh", "-c", "cat /proc/self/uid_map; id -u; ls /v")
	if r.code != 0 {
		t.Fatalf("enter: %s", r)
	}
	if in, host, count := uidMap(t, r.stdout); in != 0 || host != uint64(u.UID) || count != 65536 {
		t.Errorf("an entered command's uid_map is %d %d %d, want 0 %d 65536: %s", in, host, count, u.UID, r)
	}
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) < 2 || lines[1] != "0" {
		t.Errorf("an entered command is not the pod's root: %s", r)
	}
	// The script's last line, nc's, ends in its 1 s timeout if the bind
	// succeeded; wait for it so that every earlier line is in the log.
	var logs result
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if logs = e.podctl("logs", uuid); strings.Contains(logs.stdout, "nc: ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not reach nc in 60 s: %s", logs)
		}
	}
	if in, host, count := uidMap(t, logs.stdout); in != 0 || host != uint64(u.UID) || count != 65536 {
		t.Errorf("the app's uid_map is %d %d %d, want 0 %d 65536: %s", in, host, count, u.UID, logs)
	}
	for _, want := range []string{"wrote-root", "removed-image-file", "chowned", "wrote-volume"} {
		if !strings.Contains(logs.stdout, want) {
			t.Errorf("the pod's root could not do what its root can (%s): %s", want, logs)
		}
	}
	if !strings.Contains(logs.stdout, "nc: timed out") {
		t.Errorf("the pod's root could not listen on port 80 in the pod's network namespace: %s", logs)
	}
	if !regexpOwned(logs.stdout) {
		t.Errorf("the app's tree is not owned by the pod's root: %s", logs)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vol, "frompod"), &st); err != nil {
		t.Fatalf("the pod's file in the volume: %v", err)
	}
	if st.Uid != 0 || st.Gid != 0 {
		t.Errorf("a file the pod's root wrote in a volume is owned by %d:%d on the host, want 0:0 (idmapped)", st.Uid, st.Gid)
	}
	if fi, err := os.Stat(filepath.Join(e.dir, "pods/run", uuid, "apps/busybox/upper/rootfile")); err != nil {
		t.Errorf("the root's new file is not in the overlay's upper folder: %v", err)
	} else if s := fi.Sys().(*syscall.Stat_t); s.Uid != u.UID {
		t.Errorf("the root's new file is owned by host uid %d, want the pod's %d", s.Uid, u.UID)
	}
}

// regexpOwned tells whether `ls -lnd / /bin/busybox` shows both owned by
// 0 0 (busybox's ls pads its columns).
func regexpOwned(out string) bool {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && (strings.HasSuffix(line, " /") || strings.HasSuffix(line, "/bin/busybox")) && f[2] == "0" && f[3] == "0" {
			n++
		}
	}
	return n == 2
}

// Pods get disjoint ranges, recorded at prepare; a range a pod has is
// refused to another with one line naming the pod; a removed pod's range
// is free again.
func TestPrivateUsersDisjoint(t *testing.T) {
	forFlavors(t, privateUsersFlavors, testPrivateUsersDisjoint)
}

func testPrivateUsersDisjoint(t *testing.T, e *env) {
	var pods []string
	ranges := map[string]*privateUsers{}
	for i := 0; i < 3; i++ {
		uuid := lastLine(e.must("prepare", "--quiet", "--insecure-options=image", "--net=none", "--private-users", busyboxACI,
			"--exec", "/bin/sh", "--", "-c", "cat /proc/self/uid_map"))
		pods = append(pods, uuid)
		u := e.podUsers(uuid)
		if u == nil {
			t.Fatalf("pod %s prepared with --private-users has none", uuid)
		}
		for other, o := range ranges {
			if u.UID < o.UID+o.Count && o.UID < u.UID+u.Count {
				t.Fatalf("pods %s and %s overlap: %+v and %+v", uuid, other, u, o)
			}
		}
		ranges[uuid] = u
	}
	u0 := e.podUsers(pods[0])
	taken := fmt.Sprintf("--private-users=%d:100", u0.UID+10)
	e.refused("pod "+pods[0], "prepare", "--insecure-options=image", taken, busyboxACI)
	e.refused("below 65536", "prepare", "--insecure-options=image", "--private-users=0:65536", busyboxACI)
	// Each runs in its own range.
	for _, p := range pods[:2] {
		r := e.podctl("run-prepared", p)
		_, host, _ := uidMap(t, r.stdout)
		if r.code != 0 || host != uint64(e.podUsers(p).UID) {
			t.Errorf("pod %s ran with host uid %d: %s", p, host, r)
		}
	}
	e.must("rm", pods[0])
	uuid := lastLine(e.must("prepare", "--quiet", "--insecure-options=image", fmt.Sprintf("--private-users=%d", u0.UID), busyboxACI))
	if u := e.podUsers(uuid); u == nil || u.UID != u0.UID {
		t.Errorf("the range of a removed pod was not free again: %+v", u)
	}
}

// With --private-users-ownership=chown the app's tree is a copy owned, on
// the host, by the pod's ids; the pod's root owns and writes it.
func TestPrivateUsersChown(t *testing.T) { forFlavors(t, privateUsersFlavors, testPrivateUsersChown) }

func testPrivateUsersChown(t *testing.T, e *env) {
	uuid := lastLine(e.must("prepare", "--quiet", "--insecure-options=image", "--net=none", "--private-users", "--private-users-ownership=chown",
		busyboxACI, "--exec", "/bin/sh", "--", "-c", "cat /proc/self/uid_map; ls -lnd / /bin/busybox; touch /x && echo wrote-root"))
	u := e.podUsers(uuid)
	if u == nil || u.Ownership != "chown" {
		t.Fatalf("status shows %+v, want chown ownership", u)
	}
	var st syscall.Stat_t
	bin := filepath.Join(e.dir, "pods/prepared", uuid, "apps/busybox/rootfs/bin/busybox")
	if err := syscall.Lstat(bin, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != u.UID || st.Gid != u.GID {
		t.Errorf("the copied tree's busybox is owned by %d:%d on the host, want %d:%d", st.Uid, st.Gid, u.UID, u.GID)
	}
	r := e.podctl("run-prepared", uuid)
	if r.code != 0 || !strings.Contains(r.stdout, "wrote-root") || !regexpOwned(r.stdout) {
		t.Errorf("run: %s", r)
	}
}

// An app of a --private-users pod whose user and group are the owner of
// a file of its image runs as that owner as the pod sees it: the image's
// root, 0, not the host's id its tree is mapped to.
func TestPrivateUsersOwnerUser(t *testing.T) {
	forFlavors(t, privateUsersFlavors, func(t *testing.T, e *env) {
		r := e.podctl("run", "--insecure-options=image", "--net=none", "--private-users", busyboxACI,
			"--user=/bin/busybox", "--group=/bin/busybox", "--exec", "/bin/sh", "--", "-c", "id -u; id -g")
		if r.code != 0 || r.stdout != "0\n0\n" {
			t.Errorf("run: %s; want the app to run as 0:0", r)
		}
	})
}

// fly does not isolate: --private-users is refused, before any pod exists.
func TestPrivateUsersRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.refused("--private-users: the fly flavor", "run", "--insecure-options=image", "--private-users", busyboxACI)
	e.flavor = "native"
	e.refused("--private-users=abc", "run", "--insecure-options=image", "--private-users=abc", busyboxACI)
	e.refused("--no-overlay makes copies", "run", "--insecure-options=image", "--private-users", "--private-users-ownership=map", "--no-overlay", busyboxACI)
	e.refused("needs --private-users", "run", "--insecure-options=image", "--private-users-ownership=chown", busyboxACI)
	e.noPods()
}

// A device given to a --private-users pod is its root's: a 0600 node of
// the host's root (/dev/fuse) opens for the pod's root.
func TestPrivateUsersDevice(t *testing.T) {
	forFlavors(t, privateUsersFlavors, func(t *testing.T, e *env) {
		if _, err := os.Stat("/dev/fuse"); err != nil {
			t.Fatalf("this test gives a pod the host's /dev/fuse: %v", err)
		}
		r := e.podctl("run", "--insecure-options=image", "--net=none", "--private-users", "--device=/dev/fuse", busyboxACI,
			"--exec", "/bin/sh", "--", "-c", "ls -ln /dev/fuse; exec 3<>/dev/fuse && echo opened")
		if r.code != 0 || !strings.Contains(r.stdout, "opened") || !strings.Contains(r.stdout, " 0        0 ") {
			t.Errorf("the pod's root could not open its device, or does not own it: %s", r)
		}
	})
}
