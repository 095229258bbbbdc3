package tests

import (
	"strings"
	"sync"
	"testing"
)

// rm racing other rms and a gc: the pod is removed, and every rm that found
// it succeeds, those that found it being removed by another podctl saying
// so; an rm that comes once it is gone finds no pod.
func TestRmRacesRmAndGC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	const pods, rms = 8, 3
	var uuids []string
	for i := 0; i < pods; i++ {
		e.must("run", "example.com/busybox", "--exec", "/bin/true")
	}
	for _, p := range e.list() {
		uuids = append(uuids, p.UUID)
	}
	if len(uuids) != pods {
		t.Fatalf("%d pods, want %d", len(uuids), pods)
	}
	var wg sync.WaitGroup
	results := make(chan result, pods*rms+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		results <- e.podctl("gc", "--grace-period=0s")
	}()
	for _, uuid := range uuids {
		for i := 0; i < rms; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- e.podctl("rm", uuid)
			}()
		}
	}
	wg.Wait()
	close(results)
	for r := range results {
		// An rm that starts once the pod is gone finds no pod, as it
		// should; one that finds it being removed waits, and succeeds.
		if r.code != 0 && !strings.HasPrefix(r.stderr, "podctl: no pod ") {
			t.Errorf("beside other rms and a gc: %s", r)
		}
		if r.code == 0 && r.stderr != "" && !strings.Contains(r.stderr, "removed by another podctl meanwhile") {
			t.Errorf("an rm or gc said: %s", r)
		}
	}
	if left := e.podDirs(); len(left) != 0 {
		t.Fatalf("pods left: %v", left)
	}
}
