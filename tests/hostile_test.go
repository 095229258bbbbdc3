package tests

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A hostile image, run as root inside its pod and entered with `podctl
// enter`, tries every way out it knows (testdata/hostile); each must be
// refused on native and systemd, and on fly where fly's docs promise it.

// hostileWay is one way out and the defence that must stop it.
type hostileWay struct {
	name    string
	defence string
	// user: the way is tried by a non-root --user app.
	user bool
}

var hostileWays = []hostileWay{
	{name: "sysctl-write", defence: "/proc/sys read-only"},
	{name: "core-pattern", defence: "/proc/sys read-only"},
	{name: "sys-remount", defence: "/sys read-only, no CAP_SYS_ADMIN"},
	{name: "cgroupfs-rw", defence: "cgroupfs read-only, no CAP_SYS_ADMIN"},
	{name: "proc-mount", defence: "mount refused (no CAP_SYS_ADMIN, seccomp)"},
	{name: "chroot-escape", defence: "pivot_root into the app's root"},
	{name: "podctl-files", defence: "nothing of podctl's (pod directory, binary) in the app's reach"},
	{name: "ptrace-init", defence: "PID 1 not ptraceable (no CAP_SYS_PTRACE)"},
	{name: "proc1-root", defence: "PID 1's /proc/1/root not accessible"},
	{name: "setns-init", defence: "setns into PID 1's mount namespace refused"},
	{name: "mknod-kmsg", defence: "device policy: mknod refused"},
	{name: "host-devices", defence: "device allow-list"},
	{name: "userns-mount", defence: "seccomp: no user namespaces, no mount"},
	{name: "keyctl", defence: "seccomp (Docker's default profile)"},
	{name: "bpf", defence: "seccomp (Docker's default profile)"},
	{name: "perf", defence: "seccomp (Docker's default profile)"},
	{name: "setuid", defence: "no_new_privs", user: true},
	{name: "filecap", defence: "no_new_privs", user: true},
}

// flyPromises says which ways fly keeps shut. Documentation/security.md:
// "fly contains nothing against a root app"; it is a chroot for trusted
// host tools, with the host's /dev, /sys and /proc/sys, no no_new_privs
// and no seccomp. What it promises (records checked before stop, rm and gc
// act) is tried by TestHostileRecords on every flavor. The ways not
// promised are not tried on fly: they would only prove the docs right, and
// some (ptrace, setns) would be aimed at the host's own PID 1.
var flyPromises = map[string]bool{
	// A --user app executing a setuid or file-capability binary: fly's
	// apps get no no_new_privs.
	"setuid":  false,
	"filecap": false,
}

// hostileImage is the test image: busybox, the hostile app as
// /bin/hostile, a setuid-root copy and a copy with file capabilities, and
// /bin/evil for the CVE-2019-5736 pattern.
func writeHostileACI(t *testing.T, path string) {
	t.Helper()
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	hostile, err := os.ReadFile(hostilePath)
	if err != nil {
		t.Fatal(err)
	}
	manifest := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/hostile",
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],
"app":{"exec":["/bin/hostile","wait"],"user":"0","group":"0"}}`
	// VFS_CAP_REVISION_2 with the effective bit; permitted CAP_SYS_ADMIN (21).
	fcap := make([]byte, 20)
	binary.LittleEndian.PutUint32(fcap[0:], 0x02000001)
	binary.LittleEndian.PutUint32(fcap[4:], 1<<21)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	add := func(h *tar.Header, data []byte) {
		h.ModTime = mtime
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string, mode int64, data []byte) {
		add(&tar.Header{Name: name, Mode: mode, Typeflag: tar.TypeReg}, data)
	}
	file("manifest", 0o644, []byte(manifest))
	for _, d := range []string{"rootfs", "rootfs/bin", "rootfs/etc", "rootfs/proc", "rootfs/sys", "rootfs/dev", "rootfs/root", "rootfs/run"} {
		add(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}, nil)
	}
	add(&tar.Header{Name: "rootfs/tmp/", Mode: 0o1777, Typeflag: tar.TypeDir}, nil)
	file("rootfs/bin/busybox", 0o755, bb)
	for _, a := range []string{"sh", "cat", "sleep", "true", "id", "ls"} {
		add(&tar.Header{Name: "rootfs/bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	file("rootfs/bin/hostile", 0o755, hostile)
	file("rootfs/bin/hostile-suid", 0o4755, hostile)
	add(&tar.Header{Name: "rootfs/bin/hostile-fcap", Mode: 0o755, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": string(fcap)}}, hostile)
	file("rootfs/bin/evil", 0o755, []byte("#!/proc/self/exe\n"))
	file("rootfs/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"))
	file("rootfs/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostileHost is what the hostile app is told about the host.
type hostileHost struct {
	args []string // hostile's flags
}

// newHostile imports the hostile image into the env and makes a marker
// file that only the host has, at a random path.
func newHostile(t *testing.T, e *env) *hostileHost {
	t.Helper()
	aci := filepath.Join(t.TempDir(), "hostile.aci")
	writeHostileACI(t, aci)
	e.must("fetch", "--insecure-options=image", aci)
	dir, err := os.MkdirTemp("/tmp", "podctl-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	token := randomHex(t)
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte(token), 0o644); err != nil {
		t.Fatal(err)
	}
	return &hostileHost{args: []string{
		"-marker", marker, "-marker-content", token,
		"-podctl", fileID(t, podctlBin),
		"-datadir", e.dir,
		"-devices", strings.Join(hostDevices(t), ","),
	}}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// fileID is "DEV:INO" of a file, as the hostile app compares files.
func fileID(t *testing.T, path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// hostDevices are the host's device nodes an app must not open, those of
// them this host has.
func hostDevices(t *testing.T) []string {
	var out []string
	for _, d := range []string{"/dev/kmsg", "/dev/ttyS0", "/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/mem"} {
		if st, err := os.Stat(d); err == nil && st.Mode()&os.ModeDevice != 0 {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("the host has none of the device nodes to try")
	}
	return out
}

// hostileLines parses hostile's output: way -> its line.
func hostileLines(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "BLOCKED" || f[0] == "ESCAPED" || f[0] == "ERROR") {
			m[f[1]] = line
		}
	}
	return m
}

// checkWays asserts that every way of ways was tried and refused, one
// subtest per way.
func checkWays(t *testing.T, where string, ways []hostileWay, r result) {
	t.Helper()
	lines := hostileLines(r.stdout)
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			line, ok := lines[w.name]
			switch {
			case !ok:
				t.Errorf("%s: %s was not tried (defence wanted: %s); hostile said: %s", where, w.name, w.defence, r)
			case strings.HasPrefix(line, "ESCAPED "):
				t.Errorf("%s got out: %s (defence wanted: %s)", where, line, w.defence)
			case strings.HasPrefix(line, "ERROR "):
				t.Errorf("%s: %s could not be tried: %s (defence wanted: %s)", where, w.name, line, w.defence)
			default:
				t.Logf("%s: %s", where, line)
			}
		})
	}
}

// waysFor are the ways a flavor is held to, root or --user ones.
func waysFor(flavor string, user bool) []hostileWay {
	var out []hostileWay
	for _, w := range hostileWays {
		if w.user == user && (flavor != "fly" || flyPromises[w.name]) {
			out = append(out, w)
		}
	}
	return out
}

func wayNames(ways []hostileWay) []string {
	var out []string
	for _, w := range ways {
		out = append(out, w.name)
	}
	return out
}

// logUnpromised says which ways a fly test leaves out, and why.
func logUnpromised(t *testing.T, flavor string) {
	if flavor != "fly" {
		return
	}
	var not []string
	for _, w := range hostileWays {
		if !flyPromises[w.name] {
			not = append(not, w.name)
		}
	}
	t.Logf("fly promises nothing against these, not tried: %s", strings.Join(not, " "))
}

// The image's own code, as the pod's app: root, then a --user.
func TestHostileApp(t *testing.T) { forEachFlavor(t, testHostileApp) }

func testHostileApp(t *testing.T, e *env) {
	h := newHostile(t, e)
	logUnpromised(t, e.flavor)
	if ways := waysFor(e.flavor, false); len(ways) > 0 {
		args := append([]string{"run", "example.com/hostile", "--exec", "/bin/hostile", "--"}, h.args...)
		r := e.podctl(append(args, wayNames(ways)...)...)
		checkWays(t, e.flavor+" root app", ways, r)
		// An app's own, narrower set holds every way too.
		args = append([]string{"run", "example.com/hostile", "--caps-retain=CAP_NET_BIND_SERVICE", "--exec", "/bin/hostile", "--"}, h.args...)
		r = e.podctl(append(args, wayNames(ways)...)...)
		checkWays(t, e.flavor+" root app with --caps-retain", ways, r)
		if slices.Contains(privateUsersFlavors, e.flavor) {
			// The pod's root is not the host's: every way stays shut.
			args = append([]string{"run", "--private-users", "example.com/hostile", "--exec", "/bin/hostile", "--"}, h.args...)
			r = e.podctl(append(args, wayNames(ways)...)...)
			checkWays(t, e.flavor+" root app with --private-users", ways, r)
		}
	}
	if ways := waysFor(e.flavor, true); len(ways) > 0 {
		args := append([]string{"run", "example.com/hostile", "--user", "nobody", "--group", "nogroup", "--exec", "/bin/hostile", "--"}, h.args...)
		r := e.podctl(append(args, wayNames(ways)...)...)
		checkWays(t, e.flavor+" --user app", ways, r)
	}
}

// The same ways, tried by a command `podctl enter` runs in a running pod:
// it gets the app's restrictions, never more. And the CVE-2019-5736
// pattern: an entered script whose interpreter is /proc/self/exe must not
// hand the app podctl's binary.
func TestHostileEnter(t *testing.T) {
	forEachIsolatedFlavor(t, testHostileEnter)
}

func testHostileEnter(t *testing.T, e *env) {
	h := newHostile(t, e)
	cmd, uuid := e.startPod(append(append([]string{"example.com/hostile", "--exec", "/bin/hostile", "--"}, h.args...), "exe-watch")...)
	ways := waysFor(e.flavor, false)
	r := e.podctl(append(append([]string{"enter", uuid, "/bin/hostile"}, h.args...), wayNames(ways)...)...)
	checkWays(t, e.flavor+" entered command", ways, r)

	t.Run("enter-exe", func(t *testing.T) {
		// The entered process lives a few milliseconds: enter again until
		// the watcher has seen one, 40 times at most.
		var evil []string
		var r result
		for i := 0; i < 40; i++ {
			er, ended := e.podctlWithin(20*time.Second, "enter", uuid, "/bin/evil")
			if !ended {
				t.Errorf("podctl enter %s /bin/evil had not ended after 20 s (killed): %s", uuid, er)
			}
			evil = append(evil, er.String())
			r = e.podctl("enter", uuid, "/bin/hostile", "exe-report")
			if !strings.HasPrefix(lastLine(r.stdout), "ERROR ") {
				break
			}
		}
		line := lastLine(r.stdout)
		switch {
		case strings.HasPrefix(line, "BLOCKED enter-exe "):
			t.Logf("%s: %s", e.flavor, line)
		case strings.HasPrefix(line, "ESCAPED enter-exe "):
			t.Errorf("%s: podctl enter handed the app podctl's binary (CVE-2019-5736): %s (defence wanted: no podctl binary reachable from the entered process)", e.flavor, line)
		default:
			t.Errorf("%s: the CVE-2019-5736 check could not be made: %s\nthe enters of /bin/evil: %s", e.flavor, r, strings.Join(evil, "\n"))
		}
	})
	e.must("stop", uuid)
	cmd.Wait()

	// enter into a --user app runs as that user, so no_new_privs must
	// hold there too.
	ucmd, uuid := e.startPodAmong(uuid, append([]string{"example.com/hostile", "--user", "nobody", "--group", "nogroup", "--exec", "/bin/hostile", "--"}, "wait")...)
	uways := waysFor(e.flavor, true)
	r = e.podctl(append(append([]string{"enter", uuid, "/bin/hostile"}, h.args...), wayNames(uways)...)...)
	checkWays(t, e.flavor+" command entered in a --user app", uways, r)
	e.must("stop", uuid)
	ucmd.Wait()
}

// podctlWithin runs podctl and kills its process group if it has not
// ended within d.
func (e *env) podctlWithin(d time.Duration, args ...string) (result, bool) {
	cmd := e.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	ended := true
	select {
	case <-done:
	case <-time.After(d):
		ended = false
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}, ended
}

// startPodAmong is startPod in a data directory that has other pods:
// it waits for the one pod that is not in old.
func (e *env) startPodAmong(old string, args ...string) (*exec.Cmd, string) {
	e.t.Helper()
	cmd := e.command(append([]string{"run"}, args...)...)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, p := range e.list() {
			if p.UUID != old && p.State == "running" {
				e.must("status", "--wait-ready=30s", p.UUID)
				return cmd, p.UUID
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the pod never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
