package tests

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// A READY=1 whose sender exits at once (a child of the app, as
// systemd-notify is) makes the pod ready, every time: stage1 hears it on the
// app's own notify socket, on every flavor. The app itself goes on a little:
// a pod whose app ends at once may end before it is ready.
func TestReadyNotifySenderExits(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		rounds, batch := 10, 2
		if e.flavor == "systemd" {
			rounds, batch = 50, 5
		}
		for done := 0; done < rounds; done += batch {
			var wg sync.WaitGroup
			errs := make(chan string, batch)
			for i := 0; i < batch; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.podctl("run", "--ready=notify", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "/bin/notify READY=1; sleep 1")
					if r.code != 0 {
						errs <- fmt.Sprintf("run: %s", r)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		for _, p := range e.list() {
			st := e.must("status", "--format=json", p.UUID)
			if !strings.Contains(st, `"state":"ready"`) {
				t.Fatalf("pod %s was never ready: %s", p.UUID, st)
			}
		}
	})
}

// Ready means the app's own command runs: an enter right after the pod is
// ready sees the app, not podctl's helper that becomes it.
func TestReadyMeansTheAppRuns(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		for i := 0; i < 5; i++ {
			cmd, uuid := e.startPod("--set-env=MARK=app", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
			r := e.podctl("enter", uuid, "/bin/sh", "-c", "echo $MARK")
			e.podctl("stop", "--force", uuid)
			cmd.Wait()
			// One pod at a time: startPod waits for the only one.
			e.must("rm", uuid)
			if r.code != 0 || strings.TrimSpace(r.stdout) != "app" {
				t.Fatalf("enter once the pod is ready, round %d: %s", i, r)
			}
		}
	})
}
