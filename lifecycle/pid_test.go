package lifecycle

import (
	"os"
	"strings"
	"testing"
)

// Pid takes one positive number, read raw through the pod's directory;
// anything else, a long file included, is an error of one line.
func TestPidReadsOneNumber(t *testing.T) {
	p := mustNewPod(t, newDataDir(t))
	if pid, err := p.Pid(); err != nil || pid != 0 {
		t.Fatalf("Pid without a pid file = %d, %v; want 0, nil", pid, err)
	}
	for content, want := range map[string]int{"1234\n": 1234, "77": 77, "0": -1, "-3": -1, "x": -1, strings.Repeat("1", 40): -1} {
		if err := os.WriteFile(p.FilePath(FilePid), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		pid, err := p.Pid()
		switch {
		case want < 0 && err == nil:
			t.Errorf("Pid of %q = %d, want an error", content, pid)
		case want < 0:
			checkOneLine(t, err)
		case err != nil || pid != want:
			t.Errorf("Pid of %q = %d, %v; want %d", content, pid, err, want)
		}
	}
}
