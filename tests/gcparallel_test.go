package tests

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// clonePods copies the exited pod dir n times into the run folder, each
// under a fresh UUID with its cgroup record, if it has one, renamed to
// match (gc checks the record against the pod's UUID), as
// tests/bench/lib.sh does.
func clonePods(t *testing.T, e *env, dir string, n int) []string {
	t.Helper()
	run := filepath.Join(e.dir, "pods", "run")
	old := filepath.Base(dir)
	var ids []string
	for i := 0; i < n; i++ {
		id := uuid.NewString()
		to := filepath.Join(run, id)
		if out, err := exec.Command("cp", "-a", dir, to).CombinedOutput(); err != nil {
			t.Fatalf("copying pod %s: %v: %s", old, err, out)
		}
		ids = append(ids, id)
		// A pod whose stage1 ended cleanly has no record left.
		rec := filepath.Join(to, "stage1", "cgroup")
		b, err := os.ReadFile(rec)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rec, []byte(strings.ReplaceAll(string(b), old, id)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// gc marks and removes many pods several at a time: every pod is marked
// once and removed once, each said on its own line, and two gc runs at
// once share the work without an error or a pod left.
func TestGCManyPodsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.must("run", "--insecure-options=image", busyboxACI, "--exec", "/bin/true")
	pods := e.list()
	if len(pods) != 1 {
		t.Fatalf("list shows %d pods, want 1", len(pods))
	}
	tmpl := filepath.Join(e.dir, "pods", "run", pods[0].UUID)
	ids := append(clonePods(t, e, tmpl, 39), pods[0].UUID)

	out := e.must("gc", "--mark-only")
	for _, id := range ids {
		if n := strings.Count(out, "marked exited pod "+id); n != 1 {
			t.Errorf("gc --mark-only says %d times that it marked pod %s:\n%s", n, id, out)
		}
	}
	if got := len(e.list()); got != len(ids) {
		t.Fatalf("after marking, list shows %d pods, want %d", got, len(ids))
	}
	for _, p := range e.list() {
		if p.State != "exited-garbage" {
			t.Errorf("pod %s is %s after gc --mark-only, want exited-garbage", p.UUID, p.State)
		}
	}

	// Two removals at once: each pod removed by exactly one of them.
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.podctl("gc", "--grace-period=0s")
		}()
	}
	wg.Wait()
	all := ""
	for _, r := range results {
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("gc beside another gc: %s", r)
		}
		all += r.stdout
	}
	for _, id := range ids {
		if n := strings.Count(all, "removed pod "+id); n != 1 {
			t.Errorf("the two gc runs say %d times that they removed pod %s:\n%s", n, id, all)
		}
	}
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("pods left after gc: %v", left)
	}
	if got := len(e.list()); got != 0 {
		t.Fatalf("list shows %d pods after gc, want none", got)
	}
}
