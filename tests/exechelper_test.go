package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// podctl-exec run by hand, without the spec a pod's init hands it, says
// what it is in one line and exits 2, executing nothing.
func TestExecHelperByHand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(filepath.Dir(podctlBin), "podctl-exec")
	for _, args := range [][]string{nil, {"/bin/true"}} {
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Fatalf("podctl-exec %q: %v, want exit status 2", args, err)
		}
		if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "podctl run") {
			t.Errorf("podctl-exec %q said %q, want one line pointing at podctl run", args, stderr.String())
		}
	}
}

// Without podctl-exec beside podctl, a native pod's init runs podctl's own
// exec helper verb, and the app is confined the same way.
func TestNativeWithoutExecHelper(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Readable by the pod's init, as the harness's own copy is.
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "podctl")
	// Copied by cp, whose descriptor of the copy ends with it: one this
	// process wrote through could be inherited by a child another test
	// forks meanwhile, and the copy's exec fail with "text file busy".
	if out, err := exec.Command("cp", podctlBin, bin).CombinedOutput(); err != nil {
		t.Fatalf("copying podctl: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "podctl-exec")); err == nil {
		t.Fatal("podctl-exec is beside the copy")
	}
	data := filepath.Join(dir, "data")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"--dir", data}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	defer exec.Command(bin, "--dir", data, "gc", "--grace-period=0s").Run()
	run("fetch", "--insecure-options=image", busyboxACI)
	out := run("run", "--stage1=native", "--net=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
		"grep -E '^(NoNewPrivs|Seccomp|CapBnd):' /proc/self/status")
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapBnd:\t00000000a80425fb"} {
		if !strings.Contains(out, want) {
			t.Errorf("the app's status lacks %q:\n%s", want, out)
		}
	}
}
