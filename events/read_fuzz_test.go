package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadLog reads a log the fuzzer writes, whole and in two appends
// with a read in between (a reader sees part of a write, or a line torn by
// a crash). Both reads give the same events, every event read has a type
// and a time, and each encodes and parses again to itself.
func FuzzReadLog(f *testing.F) {
	real := `{"time":"2026-12-06T13:04:31.685723572Z","type":"prepared","pod":"0e514951-d2d5-41fb-8452-9bdc90e1581f","name":"web"}
{"time":"2026-12-06T13:04:33.348860492Z","type":"started","pod":"7202b62c-4686-40a5-8bfe-be2ad6e81354"}
{"time":"2026-12-06T13:04:33.364678339Z","type":"exited","pod":"7202b62c-4686-40a5-8bfe-be2ad6e81354","app":"good","exit_code":3,"message":"Error"}
`
	f.Add([]byte(real), uint16(40))
	// A torn line with the next append glued to it.
	f.Add([]byte(`{"time":"2026-12-06T13:04:33.3488`+real), uint16(10))
	f.Add([]byte("\n\n{}\n{\"time\":\"2026-12-06T13:04:33Z\"}\r\n"), uint16(0))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		path := filepath.Join(dir, LogFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		whole, err := Read(dir, Filter{})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		at := int(split) % (len(data) + 1)
		if err := os.WriteFile(path, data[:at], 0o600); err != nil {
			t.Fatal(err)
		}
		lf, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		tl := &tail{f: lf}
		var parts []Event
		collect := func(e Event) { parts = append(parts, e) }
		if err := tl.read(collect); err != nil {
			t.Fatal(err)
		}
		wf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = wf.Write(data[at:])
		wf.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := tl.read(collect); err != nil {
			t.Fatal(err)
		}
		sortByTime(parts)
		a, _ := json.Marshal(whole)
		b, _ := json.Marshal(parts)
		if !bytes.Equal(a, b) {
			t.Fatalf("read whole:\n%s\nread in two parts split at %d:\n%s", a, at, b)
		}
		for _, e := range whole {
			if e.Type == "" || e.Time.IsZero() {
				t.Fatalf("event without type or time: %+v", e)
			}
			first, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("event %+v does not encode: %v", e, err)
			}
			again, ok := parseLine(first)
			if !ok {
				t.Fatalf("%s does not parse again", first)
			}
			if second, _ := json.Marshal(again); !bytes.Equal(first, second) {
				t.Fatalf("event changed in a round trip:\n%s\n%s", first, second)
			}
		}
	})
}
