package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The users the rootless tests run podctl as, with subordinate ranges no
// other test uses.
var rootlessUsers = []struct {
	name  string
	start int
}{{"podctl-rl1", 3000000}, {"podctl-rl2", 3100000}}

// subIDCount is the size of each test user's subordinate range.
const subIDCount = 65536

// rootlessUser is an ordinary user of the host running podctl with a home
// of its own and a copy of podctl it can execute.
type rootlessUser struct {
	t        *testing.T
	name     string
	uid, gid int
	home     string
	bin      string
}

// newRootlessUser makes user i of rootlessUsers exist with its range, and
// gives it a home in a temporary folder.
func newRootlessUser(t *testing.T, i int, bin string) *rootlessUser {
	t.Helper()
	name, start := rootlessUsers[i].name, rootlessUsers[i].start
	ensureUser(t, name, start)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("looking up %s: %v", name, err)
	}
	ru := &rootlessUser{t: t, name: name, bin: bin}
	ru.uid, _ = strconv.Atoi(u.Uid)
	ru.gid, _ = strconv.Atoi(u.Gid)
	ru.home, err = os.MkdirTemp(filepath.Dir(bin), "home-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(ru.home, ru.uid, ru.gid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leave no pod of the user's running, then remove what its
		// subordinate ids own too.
		ru.podctl("gc", "--grace-period=0s", "--expire-prepared=0s")
		os.RemoveAll(ru.home)
	})
	return ru
}

// ensureUser makes user name, with the subordinate uids and gids
// start..start+subIDCount-1 as its only ranges. Safe when several test
// processes run it at once: useradd's "already exists" is success, and
// the ranges are written under a lock.
func ensureUser(t *testing.T, name string, start int) {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		// No range of useradd's choosing: it could overlap another's.
		out, err := exec.Command("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
			"-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v: %s", name, err, out)
		}
	}
	lock, err := os.OpenFile("/run/podctl-tests-subid.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s:%d:%d", name, start, subIDCount)
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		b, err := os.ReadFile(file)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" && !strings.HasPrefix(l, name+":") {
				lines = append(lines, l)
			}
		}
		if strings.Contains("\n"+string(b), "\n"+want+"\n") && strings.Count(string(b), name+":") == 1 {
			continue
		}
		lines = append(lines, want)
		tmp := file + ".podctl-tests"
		if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
}

// command is podctl as the user, with no --dir: the user's default data
// directory, below its home.
func (u *rootlessUser) command(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(u.bin, "podctl"), args...)
	cmd.Env = []string{"HOME=" + u.home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "USER=" + u.name}
	cmd.Dir = u.home
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}},
	}
	return cmd
}

func (u *rootlessUser) podctl(args ...string) result {
	return runResult(u.t, u.command(args...), fmt.Sprintf("running podctl %v as %s", args, u.name))
}

func (u *rootlessUser) must(args ...string) string {
	u.t.Helper()
	r := u.podctl(args...)
	if r.code != 0 {
		u.t.Fatalf("podctl %s as %s: %s", strings.Join(args, " "), u.name, r)
	}
	return r.stdout
}

// listUUIDs are the pods list --format=json shows to the user.
func (u *rootlessUser) listUUIDs() []string {
	u.t.Helper()
	var pods []podJSON
	out := u.must("list", "--format=json")
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		u.t.Fatalf("list --format=json as %s printed %q: %v", u.name, out, err)
	}
	var ids []string
	for _, p := range pods {
		ids = append(ids, p.UUID)
	}
	return ids
}

// rootlessBin copies podctl and podctl-fetch, and the busybox image, into
// a folder every user can read: the binary under test may be below a
// folder only root traverses (a clone in /root).
func rootlessBin(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "podctl-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		src, name string
		mode      os.FileMode
	}{
		{podctlBin, "podctl", 0o755},
		{filepath.Join(filepath.Dir(podctlBin), "podctl-fetch"), "podctl-fetch", 0o755},
		{busyboxACI, "busybox.aci", 0o644},
	} {
		if err := copyMode(f.src, filepath.Join(dir, f.name), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// copyMode copies file src to dst, with mode.
func copyMode(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// TestRootless runs the native flavor's pods as ordinary users: each in
// its own data directory, in a user namespace over its subordinate ids,
// without cgroups or CNI networks.
func TestRootless(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"newuidmap", "newgidmap", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install uidmap util-linux (build.sh installs them)", tool)
		}
	}
	bin := rootlessBin(t)
	u1 := newRootlessUser(t, 0, bin)
	u2 := newRootlessUser(t, 1, bin)
	aci := filepath.Join(bin, "busybox.aci")

	// The store is the user's own, below its home.
	id := strings.TrimSpace(u1.must("fetch", "--full", "--insecure-options=image", aci))
	if !strings.HasPrefix(id, "sha512-") {
		t.Fatalf("fetch printed %q, not an image ID", id)
	}
	// A signed image, by a key the user trusts in the user's own keystore.
	signer := newGPG(t, "Builds <builds@example.com>")
	key, fpr := signer.exportKey(bin, "builds.asc")
	signed := filepath.Join(bin, "signed.aci")
	copyFile(t, aci, signed)
	signer.signFile(signed, signed+".asc")
	for _, f := range []string{key, signed, signed + ".asc"} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out := u1.must("trust", "--prefix=example.com", key); !strings.Contains(out, fpr) {
		t.Errorf("trust as %s printed %q, want the key's fingerprint", u1.name, out)
	}
	if sid := strings.TrimSpace(u1.must("fetch", "--full", signed)); sid != id {
		t.Errorf("the signed image fetched as %s is %q, want %s", u1.name, sid, id)
	}
	if r := u2.podctl("fetch", signed); r.code == 0 {
		t.Errorf("%s fetched an image signed by a key only %s trusts: %s", u2.name, u1.name, r)
	}

	data := filepath.Join(u1.home, ".local/share/podctl")
	if fi, err := os.Stat(filepath.Join(data, "images")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(u1.uid) {
		t.Fatalf("the user's store is not %s/images, owned by the user: %v", data, err)
	}
	folder := filepath.Join(u1.home, "tree")
	if err := os.MkdirAll(filepath.Join(folder, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyMode(busyboxPath, filepath.Join(folder, "bin/busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(folder, u1.uid, u1.gid)
	u1.must("image", "import", folder, "--name", "example.com/rootless-import", "--exec", "/bin/busybox")
	if r := u1.podctl("run", "example.com/rootless-import", "--exec", "/bin/busybox", "--", "echo", "imported"); r.code != 0 || !strings.Contains(r.stdout, "imported") {
		t.Errorf("a pod of the imported image: %s", r)
	}

	// Root in the pod is the user; 1 and up are its subordinate ids.
	r := u1.podctl("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo hello-rootless; cat /proc/self/uid_map /proc/self/gid_map")
	if r.code != 0 || !strings.Contains(r.stdout, "hello-rootless") {
		t.Fatalf("a rootless pod: %s", r)
	}
	t.Logf("pod printed %q", r.stdout)
	var maps [][]string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		maps = append(maps, strings.Fields(l))
	}
	start := strconv.Itoa(rootlessUsers[0].start)
	want := [][]string{
		{"0", strconv.Itoa(u1.uid), "1"}, {"1", start, strconv.Itoa(subIDCount)},
		{"0", strconv.Itoa(u1.gid), "1"}, {"1", start, strconv.Itoa(subIDCount)},
	}
	if fmt.Sprint(maps) != fmt.Sprint(want) {
		t.Errorf("the pod's uid and gid maps are %v, want %v", maps, want)
	}

	// What needs root is refused in one line, and nothing runs.
	checkRefused(t, "--memory without root", u1.podctl("run", "--memory=64M", "example.com/busybox"), "v1 hierarchies, which only root may write")
	checkRefused(t, "--net=default without root", u1.podctl("run", "--net=default", "example.com/busybox"), "CNI networks need root")
	checkRefused(t, "--stage1=fly without root", u1.podctl("run", "--stage1=fly", "example.com/busybox"), "needs root")
	checkRefused(t, "--stage1=systemd without root", u1.podctl("run", "--stage1=systemd", "example.com/busybox"), "needs root")
	if r := u1.podctl("run", "--net=host", "example.com/busybox", "--exec", "/bin/ls", "--", "/sys/class"); r.code != 0 || !strings.Contains(r.stdout, "net") {
		t.Errorf("a rootless pod in the host's network: %s", r)
	}

	// A running pod: the user sees it, root and the other user do not.
	uuidFile := filepath.Join(u1.home, "uuid")
	run := u1.command("run", "--uuid-file-save", uuidFile, "example.com/busybox", "--exec", "/bin/sleep", "--", "1000")
	var runOut bytes.Buffer
	run.Stdout, run.Stderr = &runOut, &runOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if run.ProcessState == nil {
			syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			run.Wait()
		}
	}()
	uuid := waitUUIDFile(t, uuidFile)
	u1.must("status", "--wait-ready=30s", uuid)
	if ids := u1.listUUIDs(); !contains(ids, uuid) {
		t.Errorf("the user's list shows %v, not its pod %s", ids, uuid)
	}
	if ids := u2.listUUIDs(); contains(ids, uuid) {
		t.Errorf("another user's list shows the pod %s", uuid)
	}
	// Root's list of its default data directory: a list that failed
	// would show no pod either, so it must succeed.
	def := exec.Command(podctlBin, "list", "--format=json")
	def.Env = append(os.Environ(), "PODCTL_DIR=")
	if out, err := def.CombinedOutput(); err != nil || strings.Contains(string(out), uuid) {
		t.Errorf("root's list of /var/lib/podctl (%v) shows the user's pod %s: %s", err, uuid, out)
	}

	// enter, as the app: root of the pod, with its restrictions.
	r = u1.podctl("enter", uuid, "/bin/sh", "-c", "echo in-pod; id -u; grep CapBnd /proc/self/status")
	if r.code != 0 || !strings.Contains(r.stdout, "in-pod\n0\n") || !strings.Contains(r.stdout, "00000000a80425fb") {
		t.Errorf("enter into the rootless pod: %s", r)
	}
	if r := u2.podctl("enter", uuid, "/bin/true"); r.code == 0 {
		t.Errorf("another user entered the pod: %s", r)
	}

	// stop ends it; rm and gc collect the user's pods.
	u1.must("stop", uuid)
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("podctl run did not end after stop: %s", runOut.String())
	}
	if st := u1.podctl("status", uuid); !strings.Contains(st.stdout, "state=exited") {
		t.Errorf("after stop: %s", st)
	}
	u1.must("rm", uuid)
	if ids := u1.listUUIDs(); contains(ids, uuid) {
		t.Errorf("rm left the pod: %v", ids)
	}
	u1.must("gc", "--grace-period=0s")
	if ids := u1.listUUIDs(); len(ids) != 0 {
		t.Errorf("gc left pods %v", ids)
	}
	left, _ := filepath.Glob(filepath.Join(data, "pods", "*", "*"))
	if len(left) != 0 {
		t.Errorf("gc left pod directories %v", left)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
