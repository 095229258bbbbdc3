package tests

import (
	"io"
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

// A podctl-exec that a podctl of another release runs (one left beside
// it by an upgrade) refuses, before it reads the spec, with one line on
// its error pipe naming both protocols; it executes nothing.
func TestExecHelperOfAnotherRelease(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(filepath.Dir(podctlBin), "podctl-exec")
	for _, c := range []struct {
		args  []string
		asked string
	}{
		{nil, "an older one"},
		{[]string{"podctl-exec-protocol/1"}, `"podctl-exec-protocol/1"`},
	} {
		errR, errW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		specR, specW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		self, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, c.args...)
		cmd.ExtraFiles = []*os.File{errW, self, specR}
		// A spec the helper would act on, had it read it.
		specW.Write([]byte(`{"name":"a","exec":["/bin/true"]}` + "\ng"))
		specW.Close()
		err = cmd.Run()
		errW.Close()
		specR.Close()
		self.Close()
		said, _ := io.ReadAll(errR)
		errR.Close()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("podctl-exec %q: %v, want exit status 1", c.args, err)
		}
		line := strings.TrimSuffix(string(said), "\n")
		if strings.Contains(line, "\n") || !strings.Contains(line, "podctl-exec-protocol/3, but the podctl that ran it speaks "+c.asked) ||
			!strings.Contains(line, "install podctl and podctl-exec of one release") {
			t.Errorf("podctl-exec %q said %q, want one line naming both protocols", c.args, said)
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
