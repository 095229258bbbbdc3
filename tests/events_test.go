package tests

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eventJSON is a line of `podctl events --format=json`.
type eventJSON struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Pod      string    `json:"pod"`
	Name     string    `json:"name"`
	App      string    `json:"app"`
	ExitCode *int      `json:"exit_code"`
	Message  string    `json:"message"`
}

// follower is a `podctl events --follow --format=json` running beside the
// test.
type follower struct {
	t      *testing.T
	events chan eventJSON
	seen   []eventJSON
}

func (e *env) followEvents(args ...string) *follower {
	e.t.Helper()
	cmd := e.command(append([]string{"events", "--follow", "--format=json"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	f := &follower{t: e.t, events: make(chan eventJSON, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev eventJSON
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				f.t.Errorf("events --follow --format=json printed %q: %v", sc.Text(), err)
				continue
			}
			f.events <- ev
		}
		close(f.events)
	}()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		// The reader ends at the pipe's end; Wait comes after it.
		for range f.events {
		}
		cmd.Wait()
		if s := stderr.String(); s != "" {
			e.t.Logf("events --follow said on stderr: %s", s)
		}
	})
	return f
}

// waitFor reads events until one of the pod has the type, and returns it.
func (f *follower) waitFor(pod, typ string, within time.Duration) eventJSON {
	f.t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-f.events:
			if !ok {
				f.t.Fatalf("events --follow ended before a %s event of pod %s; it printed %+v", typ, pod, f.seen)
			}
			f.seen = append(f.seen, ev)
			if ev.Pod == pod && ev.Type == typ {
				return ev
			}
		case <-timeout:
			f.t.Fatalf("events --follow printed no %s event of pod %s in %s; it printed %+v", typ, pod, within, f.seen)
		}
	}
}

func TestEventsFollowSeesPod(t *testing.T) { forEachFlavor(t, testEventsFollowSeesPod) }

func testEventsFollowSeesPod(t *testing.T, e *env) {
	e.fetchBusybox()
	f := e.followEvents()
	uuid := strings.TrimSpace(e.must("prepare", "--quiet", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "exit 3"))
	// Once the follower has printed this, it is reading the log as it grows.
	prepared := f.waitFor(uuid, "prepared", 10*time.Second)
	if r := e.podctl("run-prepared", uuid); r.code != 3 {
		t.Fatalf("run-prepared of a pod whose app exits 3: %s", r)
	}
	started := f.waitFor(uuid, "started", 10*time.Second)
	if started.Time.Before(prepared.Time) {
		t.Errorf("started at %s, before prepared at %s", started.Time, prepared.Time)
	}
	ready := f.waitFor(uuid, "ready", 10*time.Second)
	exited := f.waitFor(uuid, "exited", 10*time.Second)
	if ready.Time.Before(started.Time) || exited.Time.Before(ready.Time) {
		t.Errorf("out of order: started %s, ready %s, exited %s", started.Time, ready.Time, exited.Time)
	}
	if exited.ExitCode == nil || *exited.ExitCode != 3 {
		t.Errorf("exited event with code %v, want 3", exited.ExitCode)
	}
	e.must("rm", uuid)
	f.waitFor(uuid, "gc-marked", 10*time.Second)
	f.waitFor(uuid, "removed", 10*time.Second)
}

func TestEventsSelect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	prepare := func(flags ...string) string {
		args := append(append([]string{"prepare", "--quiet"}, flags...), "example.com/busybox", "--exec", "/bin/true")
		return strings.TrimSpace(e.must(args...))
	}
	a := prepare()
	time.Sleep(200 * time.Millisecond)
	between := time.Now()
	time.Sleep(200 * time.Millisecond)
	b := prepare("--name", "events-b")
	e.must("rm", a)

	// get returns the (type, pod) pairs events prints as JSON with args.
	get := func(args ...string) string {
		t.Helper()
		out := e.must(append([]string{"events", "--format=json"}, args...)...)
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var ev eventJSON
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("events --format=json printed %q: %v", line, err)
			}
			if ev.Time.IsZero() || ev.Pod == "" {
				t.Fatalf("events --format=json printed an event with no time or pod: %q", line)
			}
			who := "?"
			switch ev.Pod {
			case a:
				who = "a"
			case b:
				who = "b"
			}
			got = append(got, ev.Type+":"+who)
		}
		return strings.Join(got, " ")
	}
	check := func(want string, args ...string) {
		t.Helper()
		if got := get(args...); got != want {
			t.Errorf("events %s: got %q, want %q", strings.Join(args, " "), got, want)
		}
	}
	check("prepared:a prepared:b gc-marked:a removed:a")
	check("prepared:a prepared:b gc-marked:a removed:a", "--since", "1h")
	check("prepared:b gc-marked:a removed:a", "--since", between.Format(time.RFC3339Nano))
	check("prepared:a", "--until", between.Format(time.RFC3339Nano))
	check("", "--until", "1h")
	check("prepared:a gc-marked:a removed:a", "--filter", "pod="+a[:8])
	check("prepared:a prepared:b", "--filter", "type=prepared")
	check("prepared:b removed:a", "--filter", "type=prepared,type=removed", "--since", between.Format(time.RFC3339Nano))
	check("removed:a", "--filter", "type=removed", "--filter", "pod="+a)
	check("", "--filter", "name=nobody-has-this-name")
	check("prepared:b", "--filter", "name=events-b")
	check("prepared:b", "--filter", "name=events-b,type=prepared,pod="+b[:4])

	// Text: one line an event, with the time and the short UUID.
	out := e.must("events", "--filter", "pod="+b)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("events --filter pod=B printed %q, want one line", out)
	}
	fields := strings.Fields(lines[0])
	if len(fields) != 6 || fields[1] != "prepared" || fields[2] != b[:8] || fields[3] != "events-b" || fields[4] != "-" || fields[5] != "-" {
		t.Errorf("events printed %q, want TIME prepared %s events-b - -", lines[0], b[:8])
	} else if _, err := time.Parse(time.RFC3339Nano, fields[0]); err != nil {
		t.Errorf("events printed the time %q, which --since cannot read back: %v", fields[0], err)
	}

	// Bad input: one line, exit 254.
	for _, bad := range [][]string{
		{"--since", "yesterday"},
		{"--until", "2026-13-01T00:00:00Z"},
		{"--since", "-5m"},
		{"--filter", "color=red"},
		{"--filter", "type=exploded"},
		{"--filter", "pod"},
		{"--format", "yaml"},
	} {
		r := e.podctl(append([]string{"events"}, bad...)...)
		if r.code != 254 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "podctl: ") {
			t.Errorf("events %s: want exit 254 and one line on stderr, got %s", strings.Join(bad, " "), r)
		}
	}
}

func TestWaitExited(t *testing.T) { forEachFlavor(t, testWaitExited) }

func testWaitExited(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "sleep 1; exit 3")
	start := time.Now()
	r := e.podctl("wait", "--condition=exited", uuid[:8])
	took := time.Since(start)
	cmd.Wait()
	if r.code != 0 || r.stdout != "3\n" {
		t.Fatalf("wait --condition=exited of a running pod whose app exits 3: %s", r)
	}
	if st := e.status(uuid); st.State != "exited" {
		t.Fatalf("wait returned while the pod was %s", st.State)
	}
	if took > 20*time.Second {
		t.Errorf("wait took %s for an app that sleeps 1 s", took)
	}
	// Again once exited: at once, with the same code, the default condition.
	if r := e.podctl("wait", uuid); r.code != 0 || r.stdout != "3\n" {
		t.Errorf("wait of an exited pod: %s", r)
	}
	// An exited pod will never be ready or running again: an error, not a
	// wait.
	for _, cond := range []string{"ready", "running"} {
		r := e.podctl("wait", "--condition="+cond, "--timeout=10s", uuid)
		if r.code != 254 || !strings.Contains(r.stderr, uuid) {
			t.Errorf("wait --condition=%s of an exited pod: want exit 254 naming the pod, got %s", cond, r)
		}
	}
}

func TestWaitReadyAndTimeout(t *testing.T) { forEachFlavor(t, testWaitReadyAndTimeout) }

func testWaitReadyAndTimeout(t *testing.T, e *env) {
	e.fetchBusybox()
	uuid := strings.TrimSpace(e.must("prepare", "--quiet", "example.com/busybox", "--exec", "/bin/sleep", "--", "60"))
	// Waiting for a prepared pod to be ready waits for it to run.
	waiter := e.command("wait", "--condition=ready", "--timeout=60s", uuid)
	var out strings.Builder
	waiter.Stdout = &out
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- waiter.Wait() }()
	select {
	case err := <-waited:
		t.Fatalf("wait --condition=ready returned for a prepared pod: %v, %q", err, out.String())
	case <-time.After(500 * time.Millisecond):
	}
	run := e.command("run-prepared", uuid)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Wait()
	defer e.podctl("stop", "--force", uuid)
	if err := <-waited; err != nil {
		t.Fatalf("wait --condition=ready: %v (printed %q)", err, out.String())
	}
	if out.String() != uuid+"\n" {
		t.Errorf("wait --condition=ready printed %q, want the UUID", out.String())
	}
	if _, err := os.Stat(filepath.Join(e.dir, "pods", "run", uuid, "ready")); err != nil {
		t.Errorf("wait --condition=ready returned before the pod was ready: %v", err)
	}
	if st := e.status(uuid); st.State != "running" {
		t.Errorf("after wait --condition=ready the pod is %s, want running", st.State)
	}
	if r := e.podctl("wait", "--condition=running", uuid); r.code != 0 || r.stdout != uuid+"\n" {
		t.Errorf("wait --condition=running of a running pod: %s", r)
	}

	// The pod sleeps 60 s: a wait of 1 s for it to exit times out.
	start := time.Now()
	r := e.podctl("wait", "--timeout=1s", uuid)
	took := time.Since(start)
	if r.code != 124 || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, uuid) {
		t.Errorf("wait --timeout=1s of a long pod: want exit 124 and one line naming the pod, got %s", r)
	}
	if took < time.Second || took > 10*time.Second {
		t.Errorf("wait --timeout=1s took %s", took)
	}

	// Bad input, before any waiting.
	for _, bad := range [][]string{
		{"wait", "--timeout=1m", uuid, "no-such-pod"},
		{"wait", "--condition=gone", uuid},
		{"wait"},
	} {
		if r := e.podctl(bad...); r.code != 254 || !strings.HasPrefix(r.stderr, "podctl: ") {
			t.Errorf("podctl %s: want exit 254 with a message, got %s", strings.Join(bad, " "), r)
		}
	}
}
