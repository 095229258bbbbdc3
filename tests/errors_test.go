package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// checkRefused asserts that podctl failed as its own error: exit 254 and one
// line on stderr containing want.
func checkRefused(t *testing.T, what string, r result, want string) {
	t.Helper()
	if r.code != 254 {
		t.Errorf("%s: want exit 254, got %s", what, r)
		return
	}
	msg := strings.TrimSpace(r.stderr)
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "podctl: ") || !strings.Contains(msg, want) {
		t.Errorf("%s: want one line with %q, got %q", what, want, msg)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.aci")
	os.WriteFile(corrupt, []byte("this is not a tar archive"), 0o644)
	truncated := filepath.Join(dir, "truncated.aci")
	b, _ := os.ReadFile(busyboxACI)
	os.WriteFile(truncated, b[:len(b)/2], 0o644)

	checkRefused(t, "unsigned image", e.podctl("run", busyboxACI), "--insecure-options=image")
	checkRefused(t, "missing image file", e.podctl("run", "--insecure-options=image", "./nope.aci"), "does not exist")
	checkRefused(t, "unknown image name", e.podctl("run", "example.com/nothing"), "no image")
	checkRefused(t, "corrupt image", e.podctl("run", "--insecure-options=image", corrupt), "not a tar")
	checkRefused(t, "truncated image", e.podctl("fetch", "--insecure-options=image", truncated), "invalid")
	checkRefused(t, "bad flag", e.podctl("run", "--no-such-flag", busyboxACI), "--help")
	checkRefused(t, "bad env", e.podctl("run", "--insecure-options=image", "--set-env", "NOEQUALS", busyboxACI), "KEY=VALUE")
	if pods := e.podDirs(); len(pods) != 0 {
		t.Fatalf("refused requests left pods: %v", pods)
	}
	if imgs := e.must("image", "list", "--no-legend"); strings.TrimSpace(imgs) != "" {
		t.Fatalf("refused imports left images:\n%s", imgs)
	}
	tmp, _ := os.ReadDir(filepath.Join(e.dir, "images", "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("refused imports left temporary files: %v", tmp)
	}

	checkRefused(t, "unknown uuid", e.podctl("status", "0000dead"), "no pod matches")
	checkRefused(t, "empty uuid", e.podctl("status", ""), "empty")
	e.fetchBusybox()
	// Sixteen pods share a first hex digit often enough; make pods until two do.
	first := map[byte]string{}
	var shared byte
	for shared == 0 {
		u := lastLine(e.must("prepare", "example.com/busybox"))
		if _, ok := first[u[0]]; ok {
			shared = u[0]
		}
		first[u[0]] = u
	}
	checkRefused(t, "duplicate app name", e.podctl("run", "example.com/busybox", "---", "example.com/busybox"), "--name")
	checkRefused(t, "stray word", e.podctl("run", "example.com/busybox", "oops"), "---")
	checkRefused(t, "ambiguous prefix", e.podctl("status", string(shared)), "matches 2 pods")
	checkRefused(t, "rm of unknown pod", e.podctl("rm", "ffffffff-ffff"), "no pod matches")
}

func TestNotRootAndUnwritableDataDir(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cmd := e.command("run", "--insecure-options=image", busyboxACI)
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	// Without root, run needs the user's subordinate ids, which nobody
	// has: one line says so (rootless_test.go runs users who have some).
	if !ok || ee.ExitCode() != 254 || !strings.Contains(string(out), "no subordinate uids") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("run as nobody: %v %s", err, out)
	}
	// The data directory is root's alone (0700): others are told so.
	e.must("gc")
	cmd = e.command("list")
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 254 || !strings.Contains(string(out), "run podctl as root") {
		t.Fatalf("list as nobody: %v %s", err, out)
	}

	// A data directory on a read-only mount.
	ro := t.TempDir()
	if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(ro, unix.MNT_DETACH)
	r := (&env{t: t, dir: ro}).podctl("run", "--insecure-options=image", busyboxACI)
	checkRefused(t, "read-only data directory", r, "cannot be written")
}
