package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// appendRaw writes event lines to the data directory's log as an appender
// does (O_APPEND, one write), and returns when it wrote.
func appendRaw(t *testing.T, dir string, lines ...string) time.Time {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "events.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := time.Now()
	if _, err := f.WriteString(strings.Join(lines, "")); err != nil {
		t.Fatal(err)
	}
	return at
}

func rawEvent(at time.Time, typ, pod string) string {
	return fmt.Sprintf(`{"time":%q,"type":%q,"pod":%q}`+"\n", at.UTC().Format(time.RFC3339Nano), typ, pod)
}

// `events --follow`, started before the log exists, prints each event a
// few milliseconds after it is written. Each event is written once the one
// before it is printed, that is just after the follower woke: a follower
// woken by a poll would take the poll's whole interval for each (100 ms
// then; its look when inotify wakes it is every 5 s), so the median shows
// what wakes it.
func TestEventsFollowIsPrompt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.followEvents()
	var delays []time.Duration
	for i := 0; i < 20; i++ {
		pod := fmt.Sprintf("prompt-%02d", i)
		at := appendRaw(t, e.dir, rawEvent(time.Now(), "started", pod))
		f.waitFor(pod, "started", 2*time.Second)
		delays = append(delays, time.Since(at))
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	median, max := delays[len(delays)/2], delays[len(delays)-1]
	t.Logf("written to printed by events --follow: median %s, max %s over %d events", median, max, len(delays))
	if median > 50*time.Millisecond {
		t.Fatalf("events --follow printed events a median %s after they were written (max %s): it is waiting on a poll, not woken by inotify", median, max)
	}
}

// podctl's own rotation, under a follower: an event written by prepare
// to a log past its size limit, which prepare then rotates, and the ones
// after it, in the new generation, are each printed once.
func TestEventsFollowAcrossRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	// A log just past 1 MiB (the limit) of old events.
	old := time.Now().Add(-time.Hour)
	var b strings.Builder
	for i := 0; b.Len() <= 1<<20; i++ {
		b.WriteString(rawEvent(old, "exited", fmt.Sprintf("filler-%06d", i)))
	}
	appendRaw(t, e.dir, b.String())
	f := e.followEvents("--filter", "type=prepared,type=removed")
	first := strings.TrimSpace(e.must("prepare", "--quiet", "example.com/busybox", "--exec", "/bin/true"))
	f.waitFor(first, "prepared", 10*time.Second)
	if _, err := os.Stat(filepath.Join(e.dir, "events.log.1")); err != nil {
		t.Fatalf("prepare did not rotate a log past 1 MiB: %v", err)
	}
	second := strings.TrimSpace(e.must("prepare", "--quiet", "example.com/busybox", "--exec", "/bin/true"))
	f.waitFor(second, "prepared", 10*time.Second)
	e.must("rm", first)
	f.waitFor(first, "removed", 10*time.Second)
	for _, ev := range f.seen {
		if strings.HasPrefix(ev.Pod, "filler-") {
			t.Fatalf("the filter printed a filler event: %+v", ev)
		}
	}
	if len(f.seen) != 3 {
		t.Fatalf("events --follow printed %d events, want 3 (prepared, prepared, removed): %+v", len(f.seen), f.seen)
	}
	select {
	case ev := <-f.events:
		t.Fatalf("events --follow printed an extra event: %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}
