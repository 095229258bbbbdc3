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
	if err := AppendHistory(p.Path(), "ready"); err != nil {
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
