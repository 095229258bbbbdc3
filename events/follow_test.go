package events

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// followWatched runs Follow on dir with both poll intervals an hour long,
// so that only inotify can wake it, and returns what it passes on.
func followWatched(t *testing.T, dir string) <-chan Event {
	t.Helper()
	oldPoll, oldWatched := PollInterval, WatchedPollInterval
	PollInterval, WatchedPollInterval = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Event, 1000)
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, dir, Filter{}, func(e Event) { got <- e }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Follow: %v", err)
		}
		PollInterval, WatchedPollInterval = oldPoll, oldWatched
	})
	return got
}

// expect reads the next event and fails unless it is of pod want; it
// returns how long after its time it came.
func expect(t *testing.T, got <-chan Event, want string) time.Duration {
	t.Helper()
	select {
	case e := <-got:
		if e.Pod != want {
			t.Fatalf("Follow passed on %s of %s, want %s", e.Type, e.Pod, want)
		}
		return time.Since(e.Time)
	case <-time.After(2 * time.Second):
		t.Fatalf("Follow passed on no event %s in 2 s (the poll is an hour: did inotify not wake it?)", want)
	}
	return 0
}

func quiet(t *testing.T, got <-chan Event) {
	t.Helper()
	select {
	case e := <-got:
		t.Fatalf("Follow passed on an extra event: %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

// A follower started before the log exists is woken by inotify for each
// event within milliseconds; the poll is an hour, so it is not what wakes
// it.
func TestFollowWakesOnWrite(t *testing.T) {
	dir := t.TempDir()
	got := followWatched(t, dir)
	var delays []time.Duration
	for i := 0; i < 50; i++ {
		pod := fmt.Sprintf("p%d", i)
		if err := Append(dir, Event{Type: Started, Pod: pod}); err != nil {
			t.Fatal(err)
		}
		delays = append(delays, expect(t, got, pod))
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	t.Logf("write to Follow's callback: median %s, max %s over %d events", delays[len(delays)/2], delays[len(delays)-1], len(delays))
	quiet(t, got)
}

// Rotations, seen only through inotify: every event once, in order.
func TestFollowWatchedAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	oldMax := MaxSize
	MaxSize = 1 << 10
	defer func() { MaxSize = oldMax }()
	got := followWatched(t, dir)
	for i := 0; i < 40; i++ {
		pod := fmt.Sprintf("p%d", i)
		if err := Append(dir, Event{Type: Started, Pod: pod, Message: strings.Repeat("r", 300)}); err != nil {
			t.Fatal(err)
		}
		expect(t, got, pod)
	}
	if _, err := os.Stat(filepath.Join(dir, OldLogFile)); err != nil {
		t.Fatalf("the log was never rotated: %v", err)
	}
	quiet(t, got)
}

// A log truncated under the follower is read again from its start; one
// replaced by another file is followed to it, and the old generation,
// already read, is not passed on again.
func TestFollowTruncatedAndReplaced(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"old0", "old1"} {
		if err := Append(dir, Event{Type: Started, Pod: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(dir, LogFile), filepath.Join(dir, OldLogFile)); err != nil {
		t.Fatal(err)
	}
	if err := Append(dir, Event{Type: Started, Pod: "a"}); err != nil {
		t.Fatal(err)
	}
	got := followWatched(t, dir)
	for _, p := range []string{"old0", "old1", "a"} {
		expect(t, got, p)
	}

	if err := os.Truncate(filepath.Join(dir, LogFile), 0); err != nil {
		t.Fatal(err)
	}
	if err := Append(dir, Event{Type: Started, Pod: "b"}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, "b")

	other := filepath.Join(dir, "other")
	line := `{"time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","type":"started","pod":"c"}` + "\n"
	if err := os.WriteFile(other, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, filepath.Join(dir, LogFile)); err != nil {
		t.Fatal(err)
	}
	expect(t, got, "c")
	if err := Append(dir, Event{Type: Started, Pod: "d"}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, "d")

	if err := os.Remove(filepath.Join(dir, LogFile)); err != nil {
		t.Fatal(err)
	}
	if err := Append(dir, Event{Type: Started, Pod: "e"}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, "e")
	quiet(t, got)
}

// Two rotations between two looks (inotify batches its wake-ups, so a
// look may come only after both): the generation in between, the old
// one by then, is read whole, in order, and none is passed on twice.
// Driven look by look, as Follow's own tests cannot be sure of the timing.
func TestLookAfterTwoRotations(t *testing.T) {
	dir := t.TempDir()
	rotate := func() {
		t.Helper()
		if err := os.Rename(filepath.Join(dir, LogFile), filepath.Join(dir, OldLogFile)); err != nil {
			t.Fatal(err)
		}
	}
	appendPod := func(pod string) {
		t.Helper()
		if err := Append(dir, Event{Type: Started, Pod: pod}); err != nil {
			t.Fatal(err)
		}
	}
	var pods []string
	fl := &following{dataDir: dir, emit: func(e Event) { pods = append(pods, e.Pod) }}
	defer fl.close()
	appendPod("p0")
	if err := fl.look(); err != nil {
		t.Fatal(err)
	}
	appendPod("p1")
	rotate()
	appendPod("p2")
	rotate()
	appendPod("p3")
	if err := fl.look(); err != nil {
		t.Fatal(err)
	}
	if err := fl.look(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pods, ","); got != "p0,p1,p2,p3" {
		t.Fatalf("passed on %s, want p0,p1,p2,p3", got)
	}
}
