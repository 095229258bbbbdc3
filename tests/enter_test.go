package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// podctl enter gives the command the app's restrictions, never more: the
// same capabilities, no_new_privs and seccomp mode, user and groups,
// cgroups, working directory and environment as the app, on every flavor;
// stop ends it with the app; its exit code is enter's.
func TestEnterConfined(t *testing.T) { forEachFlavor(t, testEnterConfined) }

// statusKeys are the lines of /proc/PID/status the entered command must
// share with the app.
var statusKeys = []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"}

func testEnterConfined(t *testing.T, e *env) {
	e.fetchBusybox()
	// The app writes down what it runs with, as it sees it: $$ is the
	// app's main process until it executes sleep.
	record := `cat /proc/$$/status > /tmp/app-status; cat /proc/$$/cgroup > /tmp/app-cgroup; touch /tmp/app-recorded; exec sleep 600`
	cmd, uuid := e.startPod("example.com/busybox", "--user", "nobody", "--group", "nogroup", "--working-dir", "/tmp",
		"--environment", "FROM_APP=yes", "--exec", "/bin/sh", "--", "-c", record)
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)

	waitEntered(t, e, uuid, "test", "-e", "/tmp/app-recorded")
	app := procStatus(e.must("enter", uuid, "cat", "/tmp/app-status"))
	entered := procStatus(e.must("enter", uuid, "cat", "/proc/self/status"))
	for _, k := range statusKeys {
		if app[k] == "" || entered[k] != app[k] {
			t.Errorf("%s: the entered command has %s %q, the app %q", e.flavor, k, entered[k], app[k])
		}
	}
	if app["Uid"] != "65534\t65534\t65534\t65534" || app["Groups"] != "65534" {
		t.Errorf("%s: the app runs as Uid %q Groups %q, not as --user nobody --group nogroup", e.flavor, app["Uid"], app["Groups"])
	}
	if e.flavor != "fly" {
		// The isolated flavors' confinement, whatever the app shows.
		if entered["NoNewPrivs"] != "1" || entered["Seccomp"] != "2" || entered["CapBnd"] != "00000000a80425fb" {
			t.Errorf("%s: the entered command runs with NoNewPrivs %q Seccomp %q CapBnd %q, want 1, 2 and the 14 default capabilities",
				e.flavor, entered["NoNewPrivs"], entered["Seccomp"], entered["CapBnd"])
		}
	}
	if want, got := e.must("enter", uuid, "cat", "/tmp/app-cgroup"), e.must("enter", uuid, "cat", "/proc/self/cgroup"); got != want {
		t.Errorf("%s: the entered command's cgroups:\n%s\nthe app's:\n%s", e.flavor, got, want)
	}
	if out := e.must("enter", uuid, "/bin/sh", "-c", `echo "$(pwd) $FROM_APP $PODCTL_POD_UUID"`); out != "/tmp yes "+uuid+"\n" {
		t.Errorf("%s: the entered command's working directory and environment: %q", e.flavor, out)
	}
	// PID 1 of the pod (of the host, on fly) is not the command's to reach.
	if r := e.podctl("enter", uuid, "ls", "/proc/1/root/"); r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("%s: the entered command lists PID 1's root: %s", e.flavor, r)
	}
	for _, c := range []struct {
		script string
		code   int
	}{{"exit 7", 7}, {"kill -KILL $$", 137}, {"exit 0", 0}} {
		if r := e.podctl("enter", uuid, "/bin/sh", "-c", c.script); r.code != c.code {
			t.Errorf("%s: enter of sh -c %q exited %d, want %d: %s", e.flavor, c.script, r.code, c.code, r)
		}
	}
	if r := e.podctl("enter", uuid, "/no/such/command"); r.code != 254 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "/no/such/command") {
		t.Errorf("%s: enter of a missing command: %s", e.flavor, r)
	}

	// Seen from the host, the command is in the app's cgroups, and the
	// pod's stop ends it.
	bg := e.command("enter", uuid, "sleep", "599")
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { bg.Wait(); close(done) }()
	sleeper := waitChild(t, bg.Process.Pid, "sleep\x00599\x00")
	appPid := findProc(t, e.podCgroups(uuid)[0], "sleep\x00600\x00")
	if got, want := readProc(t, sleeper, "cgroup"), readProc(t, appPid, "cgroup"); got != want {
		t.Errorf("%s: seen from the host, the entered command's cgroups:\n%s\nthe app's:\n%s", e.flavor, got, want)
	}
	e.must("stop", uuid)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		bg.Process.Kill()
		t.Errorf("%s: the entered command outlived its pod's stop by 30 s", e.flavor)
	}
}

// CVE-2019-5736: the podctl binary a command entered in a pod runs as
// (here the command is /proc/self/exe itself, which a `#!/proc/self/exe`
// script also reaches) is not the host's file, and no reopening of it
// writes it, also once nothing executes it any more.
func TestEnterBinaryReadOnly(t *testing.T) { forEachFlavor(t, testEnterBinaryReadOnly) }

func testEnterBinaryReadOnly(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	// podctl itself, run in the pod through the enter helper's binary: it
	// follows events in a data directory of the pod's until killed.
	bg := e.command("enter", uuid, "/proc/self/exe", "--dir", "/tmp/podctl-in-pod", "events", "--follow")
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	defer bg.Wait()
	pid := waitChild(t, bg.Process.Pid, "/proc/self/exe\x00--dir\x00")
	checkExeReadOnly(t, e.flavor+" entered /proc/self/exe", pid, func() {
		syscall.Kill(pid, syscall.SIGKILL)
		bg.Wait()
	})
}

// The same for the binaries a native pod's init executes the exec helper
// from: podctl-exec, which an app's command /proc/self/exe (or a
// `#!/proc/self/exe` script) reaches, and podctl. The init holds them
// while an app may start, and a pod none of whose apps starts again hands
// them to stage1 once they run: wherever they are held, they are views
// that no reopening writes.
func TestNativeHelperBinaryReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	init := childOf(t, cmd.Process.Pid)
	for _, bin := range []string{filepath.Join(filepath.Dir(podctlBin), "podctl-exec"), podctlBin} {
		var host unix.Stat_t
		if err := unix.Stat(bin, &host); err != nil {
			t.Fatal(err)
		}
		// The init's descriptor of it, or stage1's: the one of its size.
		held := -1
		for _, pid := range []int{init, cmd.Process.Pid} {
			if held = heldOfSize(pid, host.Size); held >= 0 {
				break
			}
		}
		if held < 0 {
			t.Fatalf("neither the native pod's init (%d) nor its stage1 holds a descriptor of %s's size", init, bin)
		}
		checkHeldReadOnly(t, "the native pod's "+filepath.Base(bin), held, bin, func() {})
	}
}

// heldOfSize opens (O_PATH) the first regular file of size that process
// pid has a descriptor of, or returns -1.
func heldOfSize(pid int, size int64) int {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, d := range fds {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/fd/%s", pid, d.Name()), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == size {
			return fd
		}
		unix.Close(fd)
	}
	return -1
}

// checkExeReadOnly holds process pid's executable as a process of the pod
// could, through /proc/PID/exe; checks it is not podctl's own file; ends
// the process with end; and then tries to open it for writing (and to
// write it, if it opens).
func checkExeReadOnly(t *testing.T, what string, pid int, end func()) {
	t.Helper()
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/exe", pid), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("%s: opening /proc/%d/exe: %v", what, pid, err)
	}
	checkHeldReadOnly(t, what, fd, podctlBin, end)
}

// checkHeldReadOnly checks that fd (O_PATH, closed here) is a file of
// the size of the host's binary bin but not bin itself; calls end; and
// then tries to open it for writing (and to write it, if it opens).
func checkHeldReadOnly(t *testing.T, what string, fd int, bin string, end func()) {
	t.Helper()
	defer unix.Close(fd)
	var host, exe unix.Stat_t
	if err := unix.Stat(bin, &host); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(fd, &exe); err != nil {
		t.Fatal(err)
	}
	if exe.Dev == host.Dev && exe.Ino == host.Ino {
		t.Errorf("%s is the host's own file %s", what, bin)
	}
	if exe.Size != host.Size {
		t.Fatalf("%s is %d bytes, not %s's %d: not the file meant", what, exe.Size, bin, host.Size)
	}
	end()
	// Once nothing executes it, the file is no longer busy (ETXTBSY).
	path := fmt.Sprintf("/proc/self/fd/%d", fd)
	var werr error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var w *os.File
		if w, werr = os.OpenFile(path, os.O_WRONLY, 0); werr == nil {
			// Rewrite the first byte with itself: nothing changes, even
			// where the write goes through.
			b := make([]byte, 1)
			r, rerr := os.Open(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			r.ReadAt(b, 0)
			r.Close()
			_, werr = w.WriteAt(b, 0)
			w.Close()
		}
		if !errors.Is(werr, unix.ETXTBSY) || time.Now().After(deadline) {
			break
		}
	}
	if !errors.Is(werr, unix.EROFS) && !errors.Is(werr, unix.EPERM) {
		t.Errorf("%s: writing it through %s: %v, want EROFS or EPERM", what, path, werr)
	}
}

// A fly app's pid record, which its root app can rewrite, pointed at a
// host process: enter refuses in one line and runs nothing there.
func TestEnterRefusesForgedPid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", uuid)
	host := exec.Command("sleep", "600")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Wait()
	defer host.Process.Kill()
	record := filepath.Join(e.dir, "pods", "run", uuid, "apps", "busybox", "pid")
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("the fly app's pid record: %v", err)
	}
	if err := os.WriteFile(record, []byte(strconv.Itoa(host.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "entered")
	r := e.podctl("enter", uuid, "touch", marker)
	if r.code != 254 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "not entering") {
		t.Errorf("enter of a forged pid: %s", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran in the host process's root: %s exists", marker)
	}
}

// waitEntered runs `podctl enter UUID CMD...` until it succeeds, for 30 s
// at most: the app may not have written what CMD looks for yet.
func waitEntered(t *testing.T, e *env, uuid string, cmd ...string) {
	t.Helper()
	var r result
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r = e.podctl(append([]string{"enter", uuid}, cmd...)...); r.code == 0 {
			return
		}
	}
	t.Fatalf("%s: enter %s never succeeded in 30 s: %s\nlogs: %s", e.flavor, strings.Join(cmd, " "), r, e.podctl("logs", uuid))
}

// procStatus reads /proc/PID/status text: key -> value.
func procStatus(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func readProc(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitChild waits for a child of process parent whose command line starts
// with prefix (its NUL-separated arguments) and returns its pid.
func waitChild(t *testing.T, parent int, prefix string) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ents, _ := os.ReadDir("/proc")
		for _, ent := range ents {
			pid, err := strconv.Atoi(ent.Name())
			if err != nil {
				continue
			}
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil || procStatus(string(st))["PPid"] != strconv.Itoa(parent) {
				continue
			}
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.HasPrefix(string(b), prefix) {
				return pid
			}
		}
	}
	t.Fatalf("no child of %d runs %q after 30 s", parent, prefix)
	return 0
}

// findProc waits for a process of cgroup folder dir (or below) whose
// command line starts with prefix and returns its pid.
func findProc(t *testing.T, dir, prefix string) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, p := range cgroupProcs(dir) {
			if b, err := os.ReadFile("/proc/" + p + "/cmdline"); err == nil && strings.HasPrefix(string(b), prefix) {
				pid, _ := strconv.Atoi(p)
				return pid
			}
		}
	}
	t.Fatalf("no process of %s runs %q after 30 s", dir, prefix)
	return 0
}
