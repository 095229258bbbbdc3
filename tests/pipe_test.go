package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClosedOutputKeepsPod reads two lines of what a pod's app writes,
// through `podctl run`'s stdout or stderr, and closes its end, as
// `podctl run … | head -2` does: the app must go on to its end, the pod
// succeed and its log keep every line.
func TestClosedOutputKeepsPod(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		for _, stream := range []string{"stdout", "stderr"} {
			t.Run(stream, func(t *testing.T) {
				closedOutput(t, e, stream)
			})
		}
		// stage1 survives a closed output by catching SIGPIPE: its apps
		// must still get the default action, as they would anywhere.
		r := e.podctl("run", "example.com/busybox", "--exec", "/bin/grep", "--", "SigIgn", "/proc/self/status")
		if r.code != 0 {
			t.Fatalf("podctl run grep SigIgn: %s", r)
		}
		var ign uint64
		if _, err := fmt.Sscanf(strings.TrimSpace(r.stdout), "SigIgn: %x", &ign); err != nil {
			t.Fatalf("an app's /proc/self/status says %q: %v", r.stdout, err)
		}
		if ign&(1<<(13-1)) != 0 {
			t.Errorf("an app starts with SIGPIPE ignored (SigIgn %x): a closed pipe would not end it", ign)
		}
	})
}

func closedOutput(t *testing.T, e *env, stream string) {
	const lines = 2000
	// The padding makes the output larger than a pipe holds, so that
	// podctl still has most of it to write once the reader has closed.
	pad := strings.Repeat("x", 100)
	redirect := ""
	if stream == "stderr" {
		redirect = " >&2"
	}
	script := fmt.Sprintf("for i in $(seq 1 %d); do echo \"line $i %s\"%s; done", lines, pad, redirect)
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command("run", "--uuid-file-save", uuidFile, "example.com/busybox", "--exec", "/bin/sh", "--", "-c", script)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var other bytes.Buffer
	if stream == "stdout" {
		cmd.Stdout, cmd.Stderr = w, &other
	} else {
		cmd.Stdout, cmd.Stderr = &other, w
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	br := bufio.NewReader(r)
	for i := 0; i < 2; i++ {
		if _, err := br.ReadString('\n'); err != nil {
			r.Close()
			cmd.Wait()
			t.Fatalf("reading line %d of podctl run's %s: %v; other stream: %s", i+1, stream, err, other.String())
		}
	}
	r.Close()
	werr := cmd.Wait()
	b, err := os.ReadFile(uuidFile)
	if err != nil {
		t.Fatalf("podctl run (%v) saved no pod: %v; other stream: %s", werr, err, other.String())
	}
	uuid := strings.TrimSpace(string(b))
	if werr != nil {
		t.Errorf("podctl run with its %s closed: %v; other stream: %s", stream, werr, other.String())
	}
	p := e.status(uuid)
	if p.Result == nil || p.Result.Result != "success" {
		t.Errorf("pod %s with podctl's %s closed: result %+v, want success", uuid, stream, p.Result)
	}
	if len(p.Apps) != 1 || p.Apps[0].ExitCode == nil || *p.Apps[0].ExitCode != 0 {
		t.Errorf("pod %s with podctl's %s closed: apps %+v, want one that exited 0", uuid, stream, p.Apps)
	}
	logs := e.podctl("logs", uuid)
	got := logs.stdout
	if stream == "stderr" {
		got = logs.stderr
	}
	var want strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "line %d %s\n", i, pad)
	}
	if got != want.String() {
		n := strings.Count(got, "\n")
		t.Errorf("pod %s with podctl's %s closed: its log has %d lines on %s, want the %d the app wrote; last: %q", uuid, stream, n, stream, lines, lastLine(got))
	}
}
