package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newerLayout is a layout file a later podctl would write.
const newerLayout = `{"layout":2,"written_by":"podctl 9.9.9"}`

// refusedForLayout checks that a command was refused with exit 254 and one
// line naming the layout version and the podctl that wrote it.
func refusedForLayout(t *testing.T, what, subject string, r result) {
	t.Helper()
	checkNoPanic(t, what, r)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 254 || len(lines) != 1 || !strings.Contains(lines[0], subject+" has layout version 2, written by podctl 9.9.9;") ||
		!strings.Contains(lines[0], "knows version 1: use a newer podctl") {
		t.Fatalf("%s should exit 254 with one line naming layout version 2 and podctl 9.9.9: %s", what, r)
	}
}

// A pod records the layout version of its directory. A pod of a newer
// layout is listed, but rm, run-prepared, stop, enter and gc leave it as
// it is, each saying why in one line.
func TestPodLayoutVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	prepared := lastLine(e.must("prepare", "--quiet", "example.com/busybox", "--exec", "/bin/true"))
	cmd, running := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	defer cmd.Wait()

	for _, id := range []string{prepared, running} {
		b, err := os.ReadFile(e.podFile(id, "layout"))
		if err != nil {
			t.Fatalf("pod %s has no layout file: %v", id, err)
		}
		var rec struct {
			Layout    int    `json:"layout"`
			WrittenBy string `json:"written_by"`
		}
		if err := json.Unmarshal(b, &rec); err != nil || rec.Layout != 1 || !strings.HasPrefix(rec.WrittenBy, "podctl ") {
			t.Fatalf("pod %s's layout file holds %q (%v)", id, b, err)
		}
	}
	setLayout := func(id, content string) {
		t.Helper()
		path := e.podFile(id, "layout")
		if content == "" {
			// A pod made before layout versions: version 1.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setLayout(prepared, newerLayout)
	setLayout(running, newerLayout)
	// Whatever fails below, the env's last gc must be able to stop the pod.
	t.Cleanup(func() {
		if dir := e.podDirOf(running); dir != "" {
			os.Remove(filepath.Join(dir, "layout"))
			e.podctl("stop", "--force", running)
		}
	})

	refusedForLayout(t, "rm of a prepared pod of layout 2", "pod "+prepared, e.podctl("rm", prepared))
	refusedForLayout(t, "run-prepared of a pod of layout 2", "pod "+prepared, e.podctl("run-prepared", prepared))
	refusedForLayout(t, "stop of a running pod of layout 2", "pod "+running, e.podctl("stop", running))
	refusedForLayout(t, "enter of a running pod of layout 2", "pod "+running, e.podctl("enter", running, "/bin/true"))
	refusedForLayout(t, "gc with a prepared pod of layout 2", "pod "+prepared, e.podctl("gc", "--expire-prepared=0s", "--grace-period=0s"))
	r := e.podctl("image", "gc", "--grace-period=0s")
	if r.code != 254 || !strings.Contains(r.stderr, "has layout version 2") || !strings.Contains(e.must("image", "list"), "example.com/busybox") {
		t.Fatalf("image gc with pods of layout 2 should refuse and keep the image: %s", r)
	}

	// Both pods are where they were, and list shows them with the reason.
	states := map[string]string{}
	for _, p := range e.list() {
		states[p.UUID] = p.State
	}
	if states[prepared] != "prepared" || states[running] != "running" {
		t.Fatalf("list shows %v; want %s prepared and %s running", states, prepared, running)
	}
	r = e.podctl("list")
	if r.code != 0 || !strings.Contains(r.stdout, prepared[:8]) || !strings.Contains(r.stderr, "pod "+prepared+" has layout version 2") {
		t.Fatalf("list should show the pod and say it has layout version 2: %s", r)
	}
	r = e.podctl("status", running)
	if r.code != 0 || !strings.Contains(r.stdout, "state=running") || !strings.Contains(r.stderr, "has layout version 2") {
		t.Fatalf("status should show the running pod and say it has layout version 2: %s", r)
	}

	// A damaged layout file is refused too, in one line.
	setLayout(prepared, "{\"layout\":\n")
	r = e.podctl("rm", prepared)
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); r.code != 254 || len(lines) != 1 || !strings.Contains(lines[0], "has a layout file") {
		t.Fatalf("rm of a pod with a damaged layout file should refuse in one line: %s", r)
	}
	if e.podDirOf(prepared) == "" {
		t.Fatal("rm removed a pod with a damaged layout file")
	}

	// Without the file, a pod is version 1, as pods made before versions.
	setLayout(prepared, "")
	setLayout(running, "")
	e.must("stop", running)
	cmd.Wait()
	e.must("rm", prepared, running)
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("pods left after rm: %v", left)
	}
}

// The image store records its layout version; a store of a newer layout
// is refused by every store command in one line.
func TestStoreLayoutVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	path := filepath.Join(e.dir, "images", "layout")
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), `{"layout":1,"written_by":"podctl `) {
		t.Fatalf("the store's layout file holds %q (%v)", b, err)
	}
	if err := os.WriteFile(path, []byte(newerLayout), 0o600); err != nil {
		t.Fatal(err)
	}
	store := "image store " + filepath.Join(e.dir, "images")
	refusedForLayout(t, "image list", store, e.podctl("image", "list"))
	refusedForLayout(t, "fetch", store, e.podctl("fetch", "--insecure-options=image", busyboxACI))
	refusedForLayout(t, "image rm", store, e.podctl("image", "rm", "example.com/busybox"))
	refusedForLayout(t, "image gc", store, e.podctl("image", "gc"))
	refusedForLayout(t, "prepare", store, e.podctl("prepare", "example.com/busybox", "--exec", "/bin/true"))
	refusedForLayout(t, "run", store, e.podctl("run", "example.com/busybox", "--exec", "/bin/true"))
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("refused prepares left pods: %v", left)
	}

	// Without the file, the store is version 1, as stores made before
	// versions.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if out := e.must("image", "list"); !strings.Contains(out, "example.com/busybox") {
		t.Fatalf("image list of a store without a layout file: %s", out)
	}
}
