package tests

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// killRuns is how many runs each flavor's pod start is killed in: 100 in
// all.
var killRuns = map[string]int{"fly": 34, "native": 33, "systemd": 33}

// killBatch is how many runs of one flavor are started and killed at once.
const killBatch = 3

// A SIGKILL of `podctl run` at any instant of a pod's start leaves nothing
// gc cannot find: after two gc runs (mark, then remove), no cgroup folder
// of any of the pods is left in any hierarchy.
func TestKillRunLeavesNoCgroup(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		killDuringStarts(t, e, killRuns[e.flavor])
	})
}

func killDuringStarts(t *testing.T, e *env, n int) {
	e.fetchBusybox()
	app := []string{"example.com/busybox", "--exec", "/bin/sleep", "--", "600"}
	// How long a start takes here and now: the kills land anywhere in it.
	began := time.Now()
	cmd, _ := e.startPod(app...)
	took := time.Since(began)
	cmd.Process.Kill()
	cmd.Wait()
	seed := uint64(time.Now().UnixNano())
	t.Logf("a start takes %s; kills at random instants in it, seed %d", took, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < n; i += killBatch {
		var wg sync.WaitGroup
		for j := i; j < min(i+killBatch, n); j++ {
			delay := time.Duration(rng.Int64N(int64(took) + 1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := e.command(append([]string{"run"}, app...)...)
				if err := run.Start(); err != nil {
					t.Error(err)
					return
				}
				// The instant of the kill is the point of the test, not a
				// wait for something to happen.
				time.Sleep(delay)
				run.Process.Signal(syscall.SIGKILL)
				run.Wait()
			}()
		}
		wg.Wait()
	}

	pods := map[string]bool{}
	recorded := 0
	for _, d := range e.podDirs() {
		pods[filepath.Base(d)] = true
		if _, err := os.Stat(filepath.Join(d, "stage1", "cgroup")); err == nil {
			recorded++
		}
	}
	t.Logf("%d pods, %d of them killed after recording their cgroups", len(pods), recorded)
	if recorded == 0 {
		t.Fatal("no kill came after a pod recorded its cgroups: the test tried nothing")
	}
	for i := 0; i < 2; i++ {
		if r := e.podctl("gc", "--grace-period=0s"); r.code != 0 {
			t.Errorf("gc: %s", r)
		}
	}
	if left := podCgroupsUnder("/sys/fs/cgroup", pods); len(left) > 0 {
		t.Errorf("%d cgroup folders left after gc:\n%s\npods: %s", len(left), strings.Join(left, "\n"), e.must("list", "--no-legend"))
	}
}

// podCgroupsUnder lists the folders below top named for one of the pods
// (podctl-<uuid>), in every hierarchy.
func podCgroupsUnder(top string, pods map[string]bool) []string {
	var out []string
	filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		// Folders come and go as other pods run: a vanished one is no
		// matter.
		if err != nil || !d.IsDir() {
			return nil
		}
		if uuid, ok := strings.CutPrefix(d.Name(), "podctl-"); ok && pods[uuid] {
			out = append(out, path)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}
