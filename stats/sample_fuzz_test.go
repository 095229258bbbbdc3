package stats

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"podctl/lifecycle"
)

// FuzzSampleOnce gives a sampler whatever a stats file may hold, and any
// state: it takes its sample or says why not, never crashes, and leaves
// the file ending on a whole line.
func FuzzSampleOnce(f *testing.F) {
	var seed []byte
	for i := 0; i < 3; i++ {
		b, _ := json.Marshal(sample(i))
		seed = append(append(seed, b...), '\n')
	}
	f.Add(seed, "idle=0:interval=2000000000")
	f.Add(seed[:len(seed)-7], "idle=5:interval=10000000")
	f.Add([]byte(`{"time":"2024-05-01T12:00:00Z","span_ns":-1,"pod":{"cpu_nanos":18446744073709551615},"apps":[{"name":"a"}]}`+"\n"), "idle=2:interval=86400000000000")
	f.Add([]byte("\n\n{}\n"), "busy")
	f.Add([]byte(`{"time":"2024-05-01T12:00:00Z","span_ns":4611686018427387904,"pod":{},"apps":[]}`+"\n"), "idle=5:interval=10000000")
	f.Fuzz(func(t *testing.T, file []byte, state string) {
		podDir, cg := fakePod(t)
		path := filepath.Join(podDir, lifecycle.FileStats)
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		next, got, err := SampleOnce(path, []string{cg}, []string{"a"}, state)
		if err != nil {
			return
		}
		if _, perr := parseSamplerState(got); perr != nil || next <= 0 || next > maxInterval<<maxIdleShift {
			t.Fatalf("next sample in %s, state %q", next, got)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Fatalf("the file ends on a torn line: %q", b)
		}
	})
}
