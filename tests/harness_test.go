// Package tests drives the podctl binary as a user would: it builds it
// once, makes its own images from the host's busybox-static, and runs real
// pods as root in temporary data directories.
package tests

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	podctlBin  string // the binary under test
	busyboxACI string // an ACI of busybox-static, exec /bin/sh
)

// busyboxPath is the host's static busybox (Debian's busybox-static).
const busyboxPath = "/bin/busybox"

// notifyBin is the static program the image has as /bin/notify.
var notifyBin []byte

// hostilePath is the static program of testdata/hostile, built for the run.
var hostilePath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "tests: the end-to-end tests run pods and must run as root (CI runs them as root)")
		return 1
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		fmt.Fprintln(os.Stderr, "tests: need busybox-static: apt-get install -y busybox-static")
		return 1
	}
	work, err := os.MkdirTemp("", "podctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)
	// Tests run podctl as an unprivileged user too.
	os.Chmod(work, 0o755)
	podctlBin = filepath.Join(work, "podctl")
	if err := buildStatic(podctlBin, ".."); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building podctl:", err)
		return 1
	}
	// Installed beside podctl, which executes it.
	if err := buildStatic(filepath.Join(work, "podctl-fetch"), "../cmd/podctl-fetch"); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building podctl-fetch:", err)
		return 1
	}
	if err := buildStatic(filepath.Join(work, "podctl-mds"), "../cmd/podctl-mds"); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building podctl-mds:", err)
		return 1
	}
	for _, name := range []string{"podctl-exec", "podctl-wait"} {
		if err := buildCHelper(work, name); err != nil {
			fmt.Fprintf(os.Stderr, "tests: building %s: %v\n", name, err)
			return 1
		}
	}
	// A static sd_notify sender for the image: busybox has none.
	notifier := filepath.Join(work, "notify")
	if err := buildStatic(notifier, "./testdata/notify"); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building the notifier:", err)
		return 1
	}
	if notifyBin, err = os.ReadFile(notifier); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The hostile app of hostile_test.go.
	hostilePath = filepath.Join(work, "hostile")
	if err := buildStatic(hostilePath, "./testdata/hostile"); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building the hostile app:", err)
		return 1
	}
	// Every pod of these tests joins networks of the tests' own (see
	// network_test.go), never the built-in default, which masquerades.
	if err := writeTestNetworks(work); err != nil {
		fmt.Fprintln(os.Stderr, "tests: writing the test networks:", err)
		return 1
	}
	defer removeTestBridges()
	busyboxACI = filepath.Join(work, "busybox.aci")
	if err := writeBusyboxACI(busyboxACI, "example.com/busybox", nil); err != nil {
		fmt.Fprintln(os.Stderr, "tests: making the busybox image:", err)
		return 1
	}
	return m.Run()
}

// buildStatic builds the Go package pkg into a static binary at out.
func buildStatic(out, pkg string) error {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

// buildCHelper builds podctl's helper program name in C (podctl-exec,
// podctl-wait) beside podctl in dir, as build.sh does.
func buildCHelper(dir, name string) error {
	build := exec.Command("gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", filepath.Join(dir, name), "../cmd/"+name+"/"+name+".c")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

// busyboxApplets are the commands the test image links to busybox.
var busyboxApplets = []string{"sh", "echo", "cat", "true", "false", "sleep", "ls", "id", "env", "hostname", "touch", "test", "kill", "ps", "mount", "wc", "grep", "yes", "head", "seq"}

// writeBusyboxACI writes an uncompressed ACI holding busybox-static, its
// applets as relative symlinks, /etc/passwd and /etc/group. extra files are
// added to the root (path -> content); those in bin/ are executable.
func writeBusyboxACI(path, name string, extra map[string]string) error {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return err
	}
	manifest := fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":%q,
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"},{"name":"version","value":"1.0"}],
"app":{"exec":["/bin/sh"],"user":"0","group":"0","environment":[{"name":"FROM_IMAGE","value":"yes"}]}}`, name)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: mtime})
		tw.Write(data)
	}
	dir := func(name string) {
		tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mtime})
	}
	file("manifest", 0o644, []byte(manifest))
	dir("rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "root", "data"} {
		dir("rootfs/" + d)
	}
	tw.WriteHeader(&tar.Header{Name: "rootfs/tmp/", Mode: 0o1777, Typeflag: tar.TypeDir, ModTime: mtime})
	file("rootfs/bin/busybox", 0o755, bb)
	file("rootfs/bin/notify", 0o755, notifyBin)
	for _, a := range busyboxApplets {
		tw.WriteHeader(&tar.Header{Name: "rootfs/bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", ModTime: mtime})
	}
	file("rootfs/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"))
	file("rootfs/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	for p, content := range extra {
		mode := int64(0o644)
		if strings.HasPrefix(p, "bin/") {
			mode = 0o755
		}
		file("rootfs/"+p, mode, []byte(content))
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// env is one test's data directory.
type env struct {
	t   *testing.T
	dir string
	// flavor, if set, is given as --stage1 to run and prepare.
	flavor string
	// environ is added to podctl's environment.
	environ []string
}

// flavors are the stage1 flavors the conformance tests run against.
var flavors = []string{"fly", "native", "systemd"}

// forEachFlavor runs a conformance test once per stage1 flavor, each in a
// data directory of its own, in parallel.
func forEachFlavor(t *testing.T, test func(*testing.T, *env)) {
	forFlavors(t, flavors, test)
}

// isolatedFlavors are the flavors that confine their apps (see
// Documentation/security.md); fly does not.
var isolatedFlavors = []string{"native", "systemd"}

// forEachIsolatedFlavor is forEachFlavor for the isolated flavors only.
func forEachIsolatedFlavor(t *testing.T, test func(*testing.T, *env)) {
	forFlavors(t, isolatedFlavors, test)
}

func forFlavors(t *testing.T, list []string, test func(*testing.T, *env)) {
	t.Parallel()
	for _, f := range list {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.flavor = f
			test(t, e)
		})
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	t.Cleanup(func() {
		// Leave no running pod behind a failed test.
		e.podctl("gc", "--grace-period=0s", "--expire-prepared=0s")
	})
	return e
}

// result is what one podctl command did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// podctl runs podctl with the env's data directory.
func (e *env) podctl(args ...string) result {
	return e.podctlIn("", args...)
}

func (e *env) podctlIn(stdin string, args ...string) result {
	cmd := e.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	return runResult(e.t, cmd, fmt.Sprintf("running podctl %v", args))
}

// runResult runs cmd and returns what it did; what runs, a failure to run
// it at all, ends the test.
func runResult(t *testing.T, cmd *exec.Cmd, what string) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", what, err)
		}
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}

func (e *env) command(args ...string) *exec.Cmd {
	if e.flavor != "" && len(args) > 0 && (args[0] == "run" || args[0] == "prepare") {
		args = append([]string{args[0], "--stage1=" + e.flavor}, args[1:]...)
	}
	cmd := exec.Command(podctlBin, append([]string{"--dir", e.dir}, args...)...)
	cmd.Env = append(append(os.Environ(), "PODCTL_DIR="), e.environ...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// must runs podctl and fails the test unless it exits 0.
func (e *env) must(args ...string) string {
	e.t.Helper()
	r := e.podctl(args...)
	if r.code != 0 {
		e.t.Fatalf("podctl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// fetchBusybox imports the busybox image and returns its ID.
func (e *env) fetchBusybox() string {
	e.t.Helper()
	return strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", busyboxACI))
}

type podJSON struct {
	UUID       string     `json:"uuid"`
	State      string     `json:"state"`
	CreatedAt  *time.Time `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	GCMarkedAt *time.Time `json:"gc_marked_at"`
	Pid        int        `json:"pid"`
	Networks   []struct {
		Network   string `json:"network"`
		Interface string `json:"interface"`
		Address   string `json:"address"`
		Gateway   string `json:"gateway"`
	} `json:"networks"`
	Result *struct {
		Result  string `json:"result"`
		Message string `json:"message"`
	} `json:"result"`
	Apps []struct {
		Name         string `json:"name"`
		ImageID      string `json:"image_id"`
		State        string `json:"state"`
		ExitCode     *int   `json:"exit_code"`
		Reason       string `json:"reason"`
		RestartCount int    `json:"restart_count"`
	} `json:"apps"`
}

func (e *env) list() []podJSON {
	e.t.Helper()
	var pods []podJSON
	out := e.must("list", "--format=json")
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		e.t.Fatalf("list --format=json printed %q: %v", out, err)
	}
	return pods
}

func (e *env) status(uuid string) podJSON {
	e.t.Helper()
	var p podJSON
	out := e.must("status", "--format=json", uuid)
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		e.t.Fatalf("status --format=json printed %q: %v", out, err)
	}
	return p
}

// podDirs lists the pod directories under every state folder.
func (e *env) podDirs() []string {
	var out []string
	for _, f := range []string{"embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"} {
		names, _ := filepath.Glob(filepath.Join(e.dir, "pods", f, "*"))
		out = append(out, names...)
	}
	return out
}

// mountsUnder lists mount points of this process's mount table below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			out = append(out, f[4])
		}
	}
	return out
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// podCgroups reads the cgroup folders a running pod records.
func (e *env) podCgroups(uuid string) []string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "pods", "run", uuid, "stage1", "cgroup"))
	if err != nil {
		e.t.Fatalf("pod %s records no cgroup: %v", uuid, err)
	}
	return strings.Fields(string(b))
}

// cgroupProcs lists the processes in a cgroup folder and below it; none if
// it is gone.
func cgroupProcs(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			out = append(out, strings.Fields(string(b))...)
		}
		return nil
	})
	return out
}

// waitCgroupEmpty waits for every process of the cgroups to be gone.
func waitCgroupEmpty(t *testing.T, dirs []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, d := range dirs {
			for _, pid := range cgroupProcs(d) {
				// A zombie is dead already, waiting for the machine's init.
				if n, _ := strconv.Atoi(pid); alive(n) {
					left = append(left, pid)
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var about []string
			for _, pid := range left {
				b, _ := os.ReadFile("/proc/" + pid + "/status")
				c, _ := os.ReadFile("/proc/" + pid + "/cmdline")
				about = append(about, fmt.Sprintf("%s %q %s", pid, c, strings.Join(strings.Split(string(b), "\n")[:8], "; ")))
			}
			t.Fatalf("processes of the pod are still alive: %v", about)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkCgroupsGone fails the test if any of the folders is still there.
func checkCgroupsGone(t *testing.T, dirs []string) {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s is left behind", d)
		}
	}
}

// startPod starts `podctl run ARGS...` in the background and waits until
// its pod runs with every app started. The caller waits for the command.
func (e *env) startPod(args ...string) (*exec.Cmd, string) {
	e.t.Helper()
	return e.startPodSaying(nil, args...)
}

// startPodSaying is startPod with run's stderr going to stderr (if not
// nil).
func (e *env) startPodSaying(stderr io.Writer, args ...string) (*exec.Cmd, string) {
	e.t.Helper()
	uuidFile := filepath.Join(e.t.TempDir(), "uuid")
	cmd := e.command(append([]string{"run", "--uuid-file-save", uuidFile}, args...)...)
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	uuid := waitUUIDFile(e.t, uuidFile)
	// A booted pod on a loaded machine can take seconds.
	e.must("status", "--wait-ready=30s", uuid)
	return cmd, uuid
}

// enterUntil runs `podctl enter UUID CMD...` until it succeeds (the app
// may not be there yet), for 60 s at most, and returns the last result.
func (e *env) enterUntil(uuid string, cmd ...string) result {
	return e.enterWhile(uuid, cmd, func(r result) bool { return r.code != 0 })
}

// enterUntilOutput is enterUntil until CMD also prints something: a file
// the app writes exists before its content.
func (e *env) enterUntilOutput(uuid string, cmd ...string) result {
	return e.enterWhile(uuid, cmd, func(r result) bool { return r.code != 0 || strings.TrimSpace(r.stdout) == "" })
}

func (e *env) enterWhile(uuid string, cmd []string, again func(result) bool) result {
	var r result
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r = e.podctl(append([]string{"enter", uuid}, cmd...)...); !again(r) || time.Now().After(deadline) {
			return r
		}
	}
}
