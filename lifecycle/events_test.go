package lifecycle

import (
	"bytes"
	"os"
	"path/filepath"
	"podctl/events"
	"testing"
)

func TestAppendEvent(t *testing.T) {
	data := t.TempDir()
	const id = "6d3c5a7e-1f2b-4c3d-9e8f-0a1b2c3d4e5f"
	podDir := filepath.Join(data, "pods", "run", id)
	if err := os.MkdirAll(podDir, 0o700); err != nil {
		t.Fatal(err)
	}
	manifest := `{"acKind":"PodManifest","apps":[],"annotations":[{"name":"other","value":"x"},{"name":"podctl.io/name","value":"web-1"}]}`
	if err := os.WriteFile(filepath.Join(podDir, "pod"), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	code := 3
	if err := (&Pod{UUID: id, at: podDir + "/"}).AppendEvent(events.Event{Type: events.Exited, App: "web", ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	evs, err := events.Read(data, events.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Pod != id || evs[0].Name != "web-1" || evs[0].App != "web" || evs[0].ExitCode == nil || *evs[0].ExitCode != 3 {
		t.Fatalf("AppendEvent recorded %+v", evs)
	}
	b, _ := os.ReadFile(filepath.Join(data, events.LogFile))
	if !bytes.HasPrefix(b, []byte(`{"time":"`)) || !bytes.Contains(b, []byte(`"exit_code":3`)) {
		t.Fatalf("the log line is %s", b)
	}
}
