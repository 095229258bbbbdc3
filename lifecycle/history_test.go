package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
)

// Every move adds a line; a torn line is skipped.
func TestHistory(t *testing.T) {
	dataDir := t.TempDir()
	if err := Init(dataDir); err != nil {
		t.Fatal(err)
	}
	p, err := NewPod(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	if err := p.Note("ready", nil); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(p.Path(), FileHistory), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("2026-11-25T10:00:0")
	f.Close()
	h, err := p.History()
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for i, c := range h {
		states = append(states, c.State)
		if i > 0 && c.Time.Before(h[i-1].Time) {
			t.Errorf("out of order: %+v", h)
		}
	}
	want := []string{"preparing", "prepared", "ready"}
	if len(states) != len(want) {
		t.Fatalf("history %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("history %v, want %v", states, want)
		}
	}
}

// A history written by an older version, whose state names had a space,
// reads with today's names; conditions and torn lines are as they were.
func TestHistoryOldStateNames(t *testing.T) {
	h := parseHistory([]byte("2026-11-25T10:00:00.1Z preparing\n" +
		"2026-11-25T10:00:01Z running\n" +
		"2026-11-25T10:00:02Z ready\n" +
		"2026-11-25T10:00:03Z exited\n" +
		"2026-11-25T10:00:04Z exited garbage\n" +
		"2026-11-25T10:00:05Z aborted prepare\n" +
		"2026-11-25T10:00:0"))
	want := []string{"preparing", "running", "ready", "exited", "exited-garbage", "aborted-prepare"}
	if len(h) != len(want) {
		t.Fatalf("history %+v, want states %v", h, want)
	}
	for i, c := range h {
		if c.State != want[i] {
			t.Errorf("line %d: state %q, want %q", i, c.State, want[i])
		}
	}
}
