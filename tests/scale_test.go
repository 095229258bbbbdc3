package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestListSummary checks that what list and status show of an exited pod
// is the same whether they read its files or its summary (the cache list
// keeps of an exited pod), and that the summary is rebuilt when damaged or
// copied into another pod, and never added to a pod marked for collection.
func TestListSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	r := e.podctl("run", "--insecure-options=image", "--name=cached", "--label=tier=web", busyboxACI, "--exec", "/bin/sh", "--", "-c", "exit 3")
	if r.code != 3 {
		t.Fatalf("podctl run of an app exiting 3: %s", r)
	}
	pods := e.list()
	if len(pods) != 1 {
		t.Fatalf("list shows %d pods, want 1", len(pods))
	}
	id := pods[0].UUID
	dir := filepath.Join(e.dir, "pods", "run", id)
	summary := filepath.Join(dir, "summary")
	fromFiles := e.must("list", "--format=json")
	if _, err := os.Stat(summary); err != nil {
		t.Fatalf("list left no summary of the exited pod: %v", err)
	}
	// Without the summary (first list), with it, and with a damaged one:
	// the same.
	fromSummary := e.must("list", "--format=json")
	if fromSummary != fromFiles {
		t.Fatalf("list from the summary:\n%s\nfrom the pod's files:\n%s", fromSummary, fromFiles)
	}
	statusFiles := e.must("status", id)
	if err := os.WriteFile(summary, []byte("podctl-summary 1 "+id+" 0:0:0\n{\"name\":\"forged\"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := e.must("list", "--format=json"); got != fromFiles {
		t.Fatalf("list with a stale summary:\n%s\nwant:\n%s", got, fromFiles)
	}
	if got := e.must("status", id); got != statusFiles {
		t.Fatalf("status with a rebuilt summary:\n%s\nwant:\n%s", got, statusFiles)
	}
	if b, err := os.ReadFile(summary); err != nil || strings.Contains(string(b), "forged") {
		t.Fatalf("the stale summary was not rebuilt: %q, %v", b, err)
	}
	text := e.must("list", "--no-legend")
	for _, want := range []string{id[:8], "cached", "exited", "tier=web", " 3 "} {
		if !strings.Contains(text, want) {
			t.Errorf("list lacks %q:\n%s", want, text)
		}
	}

	// A copy of the pod under another UUID is read from its own files.
	const copyID = "0f8fad5b-d9cb-469f-a165-70867728950e"
	if out, err := exec.Command("cp", "-a", dir, filepath.Join(e.dir, "pods", "run", copyID)).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	pods = e.list()
	if len(pods) != 2 {
		t.Fatalf("list shows %d pods, want 2", len(pods))
	}
	for _, p := range pods {
		if p.State != "exited" || len(p.Apps) != 1 || p.Apps[0].ExitCode == nil || *p.Apps[0].ExitCode != 3 {
			t.Errorf("list: %+v", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(e.dir, "pods", "run", copyID, "summary")); err != nil || !strings.Contains(string(b), copyID) {
		t.Fatalf("the copy's summary was not rebuilt for it: %q, %v", b, err)
	}
	e.must("rm", copyID)

	// Marked: the summary still serves, the mark time is read afresh, and
	// no list changes it.
	e.must("gc", "--mark-only")
	first := e.status(id)
	if first.State != "exited-garbage" || first.GCMarkedAt == nil || len(first.Apps) != 1 || *first.Apps[0].ExitCode != 3 {
		t.Fatalf("status of the marked pod: %+v", first)
	}
	e.must("list")
	if again := e.status(id); again.GCMarkedAt == nil || !again.GCMarkedAt.Equal(*first.GCMarkedAt) {
		t.Fatalf("gc mark time moved from %v to %v", first.GCMarkedAt, again.GCMarkedAt)
	}
	// A marked pod without a summary gets none from list: a new file in
	// its directory would move its mark time.
	marked, _ := filepath.Glob(filepath.Join(e.dir, "pods", "*", id, "summary"))
	if len(marked) != 1 {
		t.Fatalf("the marked pod's summary: %v", marked)
	}
	if err := os.Remove(marked[0]); err != nil {
		t.Fatal(err)
	}
	first = e.status(id)
	e.must("list")
	if _, err := os.Stat(marked[0]); !os.IsNotExist(err) {
		t.Errorf("list wrote a summary into a pod marked for collection: %v", err)
	}
	if again := e.status(id); again.GCMarkedAt == nil || !again.GCMarkedAt.Equal(*first.GCMarkedAt) {
		t.Fatalf("gc mark time moved from %v to %v", first.GCMarkedAt, again.GCMarkedAt)
	}
	e.must("gc", "--grace-period=0s")
	if dirs := e.podDirs(); len(dirs) != 0 {
		t.Fatalf("gc left %v", dirs)
	}
}
