package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// usageJSON is one usage as stats --format=json prints it.
type usageJSON struct {
	Name        string   `json:"name"`
	CPUNanos    uint64   `json:"cpu_nanos"`
	CPUPercent  *float64 `json:"cpu_percent"`
	MemoryBytes uint64   `json:"memory_bytes"`
	Pids        uint64   `json:"pids"`
	Has         []string `json:"has"`
}

func (u usageJSON) has(m string) bool {
	for _, h := range u.Has {
		if h == m {
			return true
		}
	}
	return false
}

type podStatsJSON struct {
	UUID string      `json:"uuid"`
	Time time.Time   `json:"time"`
	Pod  usageJSON   `json:"pod"`
	Apps []usageJSON `json:"apps"`
}

func (p podStatsJSON) app(t *testing.T, name string) usageJSON {
	t.Helper()
	for _, a := range p.Apps {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("stats of pod %s show no app %s: %+v", p.UUID, name, p)
	return usageJSON{}
}

// stats runs stats --no-stream --format=json with args and returns the
// reading of pod uuid.
func (e *env) stats(uuid string, args ...string) podStatsJSON {
	e.t.Helper()
	out := e.must(append([]string{"stats", "--no-stream", "--interval=500ms", "--format=json"}, args...)...)
	var pods []podStatsJSON
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		e.t.Fatalf("stats --format=json printed %q: %v", out, err)
	}
	for _, p := range pods {
		if p.UUID == uuid {
			return p
		}
	}
	e.t.Fatalf("stats show no pod %s: %s", uuid, out)
	return podStatsJSON{}
}

// Stats show the CPU of a busy app and the memory of an app that
// allocates growing, per app and for the pod.
func TestStatsShowUsage(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		cmd, uuid := e.startPod(
			"example.com/busybox", "--name", "mem", "--exec", "/bin/sh", "--", "-c",
			// Waits for its go, then writes 60 MB to a file: page cache
			// that the kernel charges to the app's cgroup and keeps
			// (a shell variable's memory may be handed back at once).
			"while ! test -e /tmp/go; do sleep 0.05; done; head -c 60000000 /dev/zero > /tmp/big; echo allocated; sleep 60", "---",
			"example.com/busybox", "--name", "busy", "--exec", "/bin/sh", "--", "-c", "while :; do :; done")
		defer func() {
			e.podctl("stop", "--force", uuid)
			cmd.Wait()
		}()
		// No UUID: every running pod, this one among them. A loaded
		// machine may give the busy app little of the first readings'
		// time: read until it shows.
		var before podStatsJSON
		var busy usageJSON
		for deadline := time.Now().Add(30 * time.Second); ; {
			before = e.stats(uuid)
			busy = before.app(t, "busy")
			if busy.has("cpu") && busy.CPUNanos > 0 && busy.CPUPercent != nil && *busy.CPUPercent >= 1 {
				break
			}
			if time.Now().After(deadline) {
				pct := "none"
				if busy.CPUPercent != nil {
					pct = fmt.Sprintf("%.2f%%", *busy.CPUPercent)
				}
				t.Fatalf("a busy app's CPU, for 30 s: %+v (%s)", busy, pct)
			}
		}
		if before.Pod.CPUPercent == nil || *before.Pod.CPUPercent < *busy.CPUPercent/2 {
			t.Fatalf("the pod's CPU %+v, its busy app's %+v", before.Pod, busy)
		}
		mem := before.app(t, "mem")
		if !mem.has("memory") || !before.Pod.has("memory") || !before.Pod.has("pids") || before.Pod.Pids < 2 {
			t.Fatalf("memory and pids of the pod %+v and its app %+v", before.Pod, mem)
		}
		e.must("enter", "--app", "mem", uuid, "touch", "/tmp/go")
		deadline := time.Now().Add(20 * time.Second)
		for {
			now := e.stats(uuid, uuid)
			app := now.app(t, "mem")
			if app.MemoryBytes > mem.MemoryBytes+40<<20 && now.Pod.MemoryBytes > before.Pod.MemoryBytes+40<<20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("memory did not grow by 40 MiB: app %d then %d bytes, pod %d then %d bytes", mem.MemoryBytes, app.MemoryBytes, before.Pod.MemoryBytes, now.Pod.MemoryBytes)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Text: a line for the pod and one per app.
		out := e.must("stats", "--no-stream", "--interval=200ms", uuid)
		if !strings.Contains(out, uuid[:8]) || !strings.Contains(out, "(pod)") || !strings.Contains(out, "busy") || !strings.Contains(out, "MiB") {
			t.Fatalf("stats in text:\n%s", out)
		}
	})
}

// A pod's stage1 records its usage while it runs; --history prints it
// after the pod has exited, averaged down to --points samples. The app
// stays busy for 2 s: an idle pod's samples would spread out.
func TestStatsHistory(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		cmd := e.command("run", "--uuid-file-save", uuidFile, "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "x=$(yes | head -c 10000000); sleep 2 & p=$!; while kill -0 $p 2>/dev/null; do :; done")
		cmd.Env = append(cmd.Env, "PODCTL_STATS_INTERVAL=100ms")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run: %v: %s", err, out)
		}
		b, err := os.ReadFile(uuidFile)
		if err != nil {
			t.Fatal(err)
		}
		uuid := strings.TrimSpace(string(b))
		var h struct {
			UUID     string         `json:"uuid"`
			State    string         `json:"state"`
			Recorded int            `json:"recorded"`
			Samples  []podStatsJSON `json:"samples"`
		}
		out := e.must("stats", "--history", "--points", "5", "--format=json", uuid)
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("stats --history --format=json printed %q: %v", out, err)
		}
		// About 20 recorded over 2 s, averaged down to 5.
		if h.State != "exited" || h.Recorded < 6 || len(h.Samples) != 5 {
			t.Fatalf("history of %s pod: %d recorded, %d shown, want 5: %s", h.State, h.Recorded, len(h.Samples), out)
		}
		for i, s := range h.Samples {
			if !s.Pod.has("memory") || s.Pod.MemoryBytes == 0 || (i > 0 && !s.Time.After(h.Samples[i-1].Time)) {
				t.Fatalf("sample %d of %s", i, out)
			}
		}
		text := e.must("stats", "--history", "--points", "3", uuid)
		if lines := strings.Split(strings.TrimSpace(text), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
			t.Fatalf("history in text, 3 points:\n%s", text)
		}
		// Live stats of an exited pod are refused, and say where to look.
		r := e.podctl("stats", "--no-stream", uuid)
		if r.code != 254 || !strings.Contains(r.stderr, "--history") {
			t.Fatalf("stats of an exited pod: %s", r)
		}
		if r := e.podctl("stats", "--history", "--points", "0", uuid); r.code != 254 || !strings.Contains(r.stderr, "--points") {
			t.Fatalf("--points 0: %s", r)
		}
	})
}

// A paused pod's processes stop, and go on once resumed; a paused pod can
// be stopped.
func TestPauseResume(t *testing.T) { forEachFlavor(t, testPauseResume) }

func testPauseResume(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "while :; do echo x >> /tmp/count; sleep 0.05; done")
	// The app's writes land in its overlay's upper layer, which the host
	// reads without entering the (frozen) pod.
	count := filepath.Join(e.dir, "pods", "run", uuid, "apps", "busybox", "upper", "tmp", "count")
	size := func() int64 {
		fi, err := os.Stat(count)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	grows := func(within time.Duration) bool {
		before := size()
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if size() > before {
				return true
			}
		}
		return false
	}
	if !grows(10 * time.Second) {
		t.Fatal("the counter never ran")
	}
	e.must("pause", uuid)
	if st := e.status(uuid); st.State != "paused" {
		t.Errorf("status of a paused pod: %s", st.State)
	}
	for _, f := range []string{"state=paused", "state=running"} {
		if out := e.must("list", "--no-legend", "--filter", f); !strings.Contains(out, uuid[:8]) {
			t.Errorf("list --filter %s leaves out a paused pod: %q", f, out)
		}
	}
	if grows(500 * time.Millisecond) {
		t.Fatal("a paused pod's counter went on")
	}
	e.must("resume", uuid)
	if !grows(5 * time.Second) {
		t.Fatal("the counter did not go on after resume")
	}
	e.must("pause", uuid)
	e.must("stop", "--grace-period=5s", uuid)
	cmd.Wait()
	if st := e.status(uuid); st.State != "exited" {
		t.Fatalf("stop of a paused pod: %+v", st)
	}
	checkRefused(t, "pause of an exited pod", e.podctl("pause", uuid), "only a running pod")
}
