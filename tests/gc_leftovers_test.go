package tests

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// propagateOf is the folder systemd-nspawn makes on the host for the
// machine of pod uuid (named podctl- and the UUID's first part).
func propagateOf(uuid string) string {
	return filepath.Join("/run/systemd/nspawn/propagate", "podctl-"+strings.SplitN(uuid, "-", 2)[0])
}

// A systemd pod whose nspawn was killed leaves nspawn's propagate folder
// on the host; gc removes it with the pod. A pod that ends by itself leaves
// none.
func TestGCRemovesNspawnPropagate(t *testing.T) {
	forFlavors(t, []string{"systemd"}, func(t *testing.T, e *env) {
		e.fetchBusybox()
		app := []string{"example.com/busybox", "--exec", "/bin/sleep", "--", "600"}
		for _, how := range []string{"sigkill-run", "stop-force"} {
			cmd, uuid := e.startPod(app...)
			dir := propagateOf(uuid)
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("%s: running pod has no propagate folder: %v", how, err)
			}
			if how == "sigkill-run" {
				cmd.Process.Signal(syscall.SIGKILL)
			} else {
				e.must("stop", "--force", uuid)
			}
			cmd.Wait()
			for i := 0; i < 2; i++ {
				if r := e.podctl("gc", "--grace-period=0s"); r.code != 0 {
					t.Fatalf("%s: gc: %s", how, r)
				}
			}
			if d := e.podDirOf(uuid); d != "" {
				t.Fatalf("%s: gc left pod %s at %s", how, uuid, d)
			}
			if _, err := os.Lstat(dir); !os.IsNotExist(err) {
				t.Errorf("%s: gc left %s: %v", how, dir, err)
			}
		}

		// A clean end: nspawn removes its folder itself.
		e.must("run", "example.com/busybox", "--exec", "/bin/true")
		pods := e.list()
		if len(pods) != 1 {
			t.Fatalf("%d pods after one run", len(pods))
		}
		if _, err := os.Lstat(propagateOf(pods[0].UUID)); !os.IsNotExist(err) {
			t.Errorf("a pod that ended by itself left %s: %v", propagateOf(pods[0].UUID), err)
		}
	})
}

// image gc removes a rendered tree that no pod uses, and keeps one that a
// prepared pod uses.
func TestImageGCRemovesUnusedTrees(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.fetchBusybox()
	tree := filepath.Join(e.dir, "images", "trees", id)
	e.must("run", "example.com/busybox", "--exec", "/bin/true")
	if _, err := os.Stat(tree); err != nil {
		t.Fatalf("no tree after a run: %v", err)
	}

	// A prepared pod uses the tree: it stays.
	uuid := lastLine(e.must("prepare", "example.com/busybox", "--exec", "/bin/true"))
	e.must("gc", "--grace-period=0s")
	e.must("gc", "--grace-period=0s")
	e.must("image", "gc")
	if _, err := os.Stat(tree); err != nil {
		t.Fatalf("image gc removed the tree a prepared pod uses: %v", err)
	}
	// A pod whose manifest cannot be read still mounts the tree its lower
	// link names (where overlays are used): the tree stays.
	if _, err := os.Lstat(e.podFile(uuid, "apps/busybox/lower")); err == nil {
		manifest := e.podFile(uuid, "pod")
		good, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(manifest, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		e.must("image", "gc")
		if _, err := os.Stat(tree); err != nil {
			t.Fatalf("image gc removed the tree of a pod whose manifest is damaged: %v", err)
		}
		if err := os.WriteFile(manifest, good, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// No pod left: the tree goes, the image (within its grace period)
	// stays and renders it again for the next pod.
	e.must("rm", uuid)
	out := e.must("image", "gc", "--full")
	if !strings.Contains(out, "removed "+id) {
		t.Errorf("image gc did not report the tree it removed: %q", out)
	}
	if _, err := os.Stat(tree); !os.IsNotExist(err) {
		t.Fatalf("image gc kept a tree no pod uses: %v", err)
	}
	if out := e.must("image", "list", "--no-legend"); !strings.Contains(out, "example.com/busybox") {
		t.Fatalf("image gc removed an image within its grace period:\n%s", out)
	}
	e.must("run", "example.com/busybox", "--exec", "/bin/true")
}

// Two stops and an rm of one pod at once all succeed: a pod another
// command removed has stopped.
func TestConcurrentStopAndRm(t *testing.T) {
	rounds := map[string]int{"fly": 20, "native": 20, "systemd": 5}
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		for round := 0; round < rounds[e.flavor]; round++ {
			cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
			var wg sync.WaitGroup
			results := make([]result, 3)
			var stopsDone atomic.Int32
			for i := 0; i < 2; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = e.podctl("stop", "--grace-period=1s", uuid)
					stopsDone.Add(1)
				}()
			}
			// rm refuses a running pod no stop has reached yet, and a stop
			// that starts once the pod is gone rightly finds no pod: rm
			// starts once each stop has marked the pod (it notes it in the
			// pod's history) or ended (it found the pod exited).
			deadline := time.Now().Add(60 * time.Second)
			for {
				b, _ := os.ReadFile(filepath.Join(e.podDirOf(uuid), "history"))
				if strings.Count(string(b), " terminating\n") >= 2 || stopsDone.Load() == 2 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[2] = e.podctl("rm", uuid)
			}()
			wg.Wait()
			cmd.Wait()
			for i, r := range results {
				if r.code != 0 {
					t.Fatalf("round %d: %s of pod %s: %s", round, []string{"stop", "stop", "rm"}[i], uuid, r)
				}
			}
		}
	})
}
