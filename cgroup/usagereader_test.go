package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

// A UsageReader reads what ReadUsage reads, from the files it found; a
// measure found nowhere is looked for again every reprobeEvery reads, and
// a file gone is looked for again at once.
func TestUsageReader(t *testing.T) {
	v1, v2 := t.TempDir(), t.TempDir()
	write := func(dir, name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(v2, "cpu.stat", "usage_usec 7\nuser_usec 5\n")
	write(v1, "memory.usage_in_bytes", "4096\n")
	write(v1, "memory.limit_in_bytes", "9223372036854771712\n")
	dirs := []string{v2, v1}
	r := NewUsageReader(dirs)
	u := r.Read()
	if want := ReadUsage(dirs); u != want {
		t.Fatalf("UsageReader read %+v, ReadUsage %+v", u, want)
	}
	if u.Has != HasCPU|HasMemory || u.CPUNanos != 7000 || u.MemoryBytes != 4096 {
		t.Fatalf("read %+v", u)
	}
	// A measure that appears is seen within reprobeEvery reads, not at once.
	write(v1, "pids.current", "3\n")
	if u := r.Read(); u.Has&HasPids != 0 {
		t.Fatalf("pids looked for again at once: %+v", u)
	}
	seen := false
	for i := 0; i < reprobeEvery && !seen; i++ {
		seen = r.Read().Has&HasPids != 0
	}
	if !seen {
		t.Fatalf("pids.current not found after %d reads", reprobeEvery)
	}
	// The file that gave memory goes; another folder has it: found at once.
	if err := os.Remove(filepath.Join(v1, "memory.usage_in_bytes")); err != nil {
		t.Fatal(err)
	}
	write(v2, "memory.current", "8192\n")
	if u := r.Read(); u.MemoryBytes != 8192 || u.Has&HasMemory == 0 {
		t.Fatalf("after memory's file went: %+v", u)
	}
	// Its folders gone: nothing.
	os.RemoveAll(v1)
	os.RemoveAll(v2)
	if u := r.Read(); u.Has != 0 {
		t.Fatalf("folders gone, read %+v", u)
	}
}
