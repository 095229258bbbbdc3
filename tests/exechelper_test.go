package tests

import (
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
