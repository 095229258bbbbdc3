package stats

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"podctl/cgroup"
	"podctl/lifecycle"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func pct(v float64) *float64 { return &v }

// sample makes a sample at t0+i seconds whose measures are all i (memory
// i KiB, CPU percent i), with app "a" and, for even i, app "b" at 2i.
func sample(i int) Sample {
	u := func(v uint64) Usage {
		return Usage{Usage: cgroup.Usage{CPUNanos: v, MemoryBytes: v << 10, Pids: v, ReadBytes: v, WriteBytes: v, Has: cgroup.HasCPU | cgroup.HasMemory | cgroup.HasPids | cgroup.HasIO}, CPUPercent: pct(float64(v))}
	}
	s := Sample{Time: t0.Add(time.Duration(i) * time.Second), Span: time.Second, Pod: u(uint64(i)), Apps: []AppUsage{{Name: "a", Usage: u(uint64(i))}}}
	if i%2 == 0 {
		s.Apps = append(s.Apps, AppUsage{Name: "b", Usage: u(uint64(2 * i))})
	}
	return s
}

func series(n int) []Sample {
	var out []Sample
	for i := 0; i < n; i++ {
		out = append(out, sample(i))
	}
	return out
}

func TestDecimateKeepsShortSeries(t *testing.T) {
	in := series(5)
	for _, max := range []int{5, 6, 240, 0, -1} {
		if out := Decimate(in, max); len(out) != 5 || !out[4].Time.Equal(in[4].Time) {
			t.Fatalf("max %d: %d samples, want the 5 as they are", max, len(out))
		}
	}
}

func TestDecimateAverages(t *testing.T) {
	in := series(10)
	before, _ := json.Marshal(in)
	out := Decimate(in, 3)
	if len(out) != 3 {
		t.Fatalf("%d samples, want 3", len(out))
	}
	if after, _ := json.Marshal(in); !bytes.Equal(before, after) {
		t.Fatal("Decimate changed its input")
	}
	// Runs [0,3) [3,6) [6,10): means 1, 4 and 7.5.
	for k, want := range []float64{1, 4, 7.5} {
		s := out[k]
		if got := s.Time.Sub(t0).Seconds(); got != want {
			t.Errorf("sample %d at %vs, want %vs", k, got, want)
		}
		if s.Pod.Pids != uint64(math.Round(want)) || s.Pod.CPUNanos != uint64(math.Round(want)) {
			t.Errorf("sample %d: pids %d, cpu %d, want %v", k, s.Pod.Pids, s.Pod.CPUNanos, want)
		}
		if s.Pod.MemoryBytes != uint64(want*1024) {
			t.Errorf("sample %d: memory %d, want %v", k, s.Pod.MemoryBytes, want*1024)
		}
		if s.Pod.CPUPercent == nil || *s.Pod.CPUPercent != want {
			t.Errorf("sample %d: cpu percent %v, want %v", k, s.Pod.CPUPercent, want)
		}
		if s.Pod.Has != cgroup.HasCPU|cgroup.HasMemory|cgroup.HasPids|cgroup.HasIO {
			t.Errorf("sample %d has %v", k, s.Pod.Has)
		}
	}
	if out[2].Span != 4*time.Second {
		t.Errorf("last sample spans %s, want 4s", out[2].Span)
	}
	// App b is only in even samples: 0,2 of the first run (mean 2*1=2),
	// 4 of the second (8), 6,8 of the last (14).
	for k, want := range []uint64{2, 8, 14} {
		var b *AppUsage
		for i := range out[k].Apps {
			if out[k].Apps[i].Name == "b" {
				b = &out[k].Apps[i]
			}
		}
		if b == nil || b.Pids != want {
			t.Errorf("sample %d: app b %+v, want pids %d", k, b, want)
		}
	}
}

func TestDecimateNeverMoreThanMax(t *testing.T) {
	for n := 1; n < 300; n += 7 {
		in := series(n)
		for _, max := range []int{1, 2, 5, 17, 240} {
			out := Decimate(in, max)
			if want := min(n, max); len(out) != want {
				t.Fatalf("%d samples to %d: got %d, want %d", n, max, len(out), want)
			}
			var span time.Duration
			for i, s := range out {
				span += s.Span
				if i > 0 && !s.Time.After(out[i-1].Time) {
					t.Fatalf("%d samples to %d: out of order at %d", n, max, i)
				}
			}
			if span != time.Duration(n)*time.Second {
				t.Fatalf("%d samples to %d: spans add up to %s", n, max, span)
			}
		}
	}
}

func TestAverageWeightsBySpan(t *testing.T) {
	a, b := sample(0), sample(3)
	a.Span, b.Span = time.Second, 3*time.Second
	got := Average([]Sample{a, b})
	// (0*1 + 3*3) / 4
	if *got.Pod.CPUPercent != 2.25 || got.Pod.Pids != 2 {
		t.Fatalf("weighted mean: cpu %v pids %d, want 2.25 and 2", *got.Pod.CPUPercent, got.Pod.Pids)
	}
	// Measures some samples lack are averaged over those that have them.
	b.Pod.Has &^= cgroup.HasMemory
	b.Pod.CPUPercent = nil
	got = Average([]Sample{a, b})
	if got.Pod.Has&cgroup.HasMemory == 0 || got.Pod.MemoryBytes != 0 || *got.Pod.CPUPercent != 0 {
		t.Fatalf("partial measures: %+v", got.Pod)
	}
}

func TestParseSkipsTornLines(t *testing.T) {
	var buf bytes.Buffer
	for i := 0; i < 3; i++ {
		b, _ := json.Marshal(sample(i))
		buf.Write(b)
		buf.WriteByte('\n')
	}
	full := buf.Len()
	b, _ := json.Marshal(sample(3))
	buf.Write(b[:len(b)/2])
	if got := Parse(buf.Bytes()); len(got) != 3 || got[2].Pod.Pids != 2 {
		t.Fatalf("parsed %d samples from 3 and a torn one", len(got))
	}
	// A torn line in the middle, left by a failed write, costs only itself.
	mid := append(append([]byte(nil), buf.Bytes()...), '\n')
	mid = append(mid, buf.Bytes()[:full]...)
	if got := Parse(mid); len(got) != 6 {
		t.Fatalf("parsed %d samples, want 6", len(got))
	}
}

// The file never holds more than MaxSamples, however many samples come,
// and the samples kept still average what was recorded.
func TestRecorderBound(t *testing.T) {
	defer func(n int) { MaxSamples = n }(MaxSamples)
	MaxSamples = 16
	dir := t.TempDir()
	r := &recorder{path: filepath.Join(dir, "stats"), interval: time.Second, warnf: func(err error) { t.Error(err) }}
	total := 300
	var recordedSpan time.Duration
	var recordedCPU float64 // the CPU percents weighted by span
	for i := 0; i < total; i++ {
		s := sample(i)
		s.Span = r.interval
		r.add(s)
		recordedSpan += s.Span
		recordedCPU += *s.Pod.CPUPercent * s.Span.Seconds()
		b, err := os.ReadFile(r.path)
		if err != nil {
			t.Fatal(err)
		}
		n := len(Parse(b))
		if n > MaxSamples || n != r.n || bytes.Count(b, []byte{'\n'}) != n {
			t.Fatalf("after %d samples the file holds %d (recorder counts %d), bound %d", i+1, n, r.n, MaxSamples)
		}
	}
	// Halvings at 16 samples, then every 8 more at a doubled span, which
	// stops doubling past a day.
	if r.interval < maxInterval || r.interval >= 2*maxInterval {
		t.Fatalf("interval %s after %d samples", r.interval, total)
	}
	b, _ := os.ReadFile(r.path)
	got := Parse(b)
	var span time.Duration
	var cpu float64
	for i, s := range got {
		span += s.Span
		cpu += *s.Pod.CPUPercent * s.Span.Seconds()
		if i > 0 && !s.Time.After(got[i-1].Time) {
			t.Fatalf("samples out of order at %d", i)
		}
	}
	// Averages weighted by span keep the whole: the kept samples stand
	// for all the time recorded, and for all the CPU used in it.
	if span != recordedSpan {
		t.Fatalf("kept samples span %s, recorded %s", span, recordedSpan)
	}
	if math.Abs(cpu-recordedCPU) > 1e-6*recordedCPU {
		t.Fatalf("kept samples hold %v percent-seconds of CPU, recorded %v", cpu, recordedCPU)
	}
}

// fakePod makes a pod directory whose manifest has app "a" and a fake
// cgroup tree it will record, and returns both.
func fakePod(t *testing.T) (podDir, cg string) {
	t.Helper()
	podDir = filepath.Join(t.TempDir(), "pod")
	cg = filepath.Join(t.TempDir(), "podctl-x")
	for _, d := range []string{filepath.Join(podDir, "stage1"), filepath.Join(cg, "a")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(podDir, "pod"):             `{"acKind":"PodManifest","apps":[{"name":"a"},{"name":"gone"}]}`,
		filepath.Join(cg, "cpu.stat"):            "usage_usec 1000\n",
		filepath.Join(cg, "memory.current"):      "65536\n",
		filepath.Join(cg, "pids.current"):        "2\n",
		filepath.Join(cg, "a", "cpu.stat"):       "usage_usec 600\n",
		filepath.Join(cg, "a", "memory.current"): "4096\n",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return podDir, cg
}

func TestRecord(t *testing.T) {
	podDir, cg := fakePod(t)
	stop := Record(openPod(t, podDir), []string{cg}, []string{"a", "gone"}, 20*time.Millisecond, func(err error) { t.Error(err) }).Stop
	time.Sleep(200 * time.Millisecond)
	stop()
	stop() // twice is fine
	b, err := os.ReadFile(filepath.Join(podDir, lifecycle.FileStats))
	if err != nil {
		t.Fatal(err)
	}
	got := Parse(b)
	// At 20, 40, 80 and 160 ms: the pod is idle.
	if len(got) < 3 || len(got) > 5 {
		t.Fatalf("%d samples in 200ms at 20ms, doubling", len(got))
	}
	n := len(got)
	time.Sleep(60 * time.Millisecond)
	if b2, _ := os.ReadFile(filepath.Join(podDir, lifecycle.FileStats)); len(Parse(b2)) != n {
		t.Fatal("samples recorded after stop")
	}
	for i, s := range got {
		// The CPU counter stands still: from the second sample on the pod
		// is idle, and each wait doubles.
		span := 20 * time.Millisecond << max(i-1, 0)
		if s.Pod.MemoryBytes != 65536 || s.Pod.Pids != 2 || s.Pod.CPUNanos != 1000000 || s.Span != span {
			t.Fatalf("sample %d: %+v, want span %s", i, s, span)
		}
		if len(s.Apps) != 1 || s.Apps[0].Name != "a" || s.Apps[0].MemoryBytes != 4096 || s.Apps[0].CPUNanos != 600000 {
			t.Fatalf("sample %d apps: %+v", i, s.Apps)
		}
		// The first has nothing before it; the CPU counter stands still.
		if (i == 0) != (s.Pod.CPUPercent == nil) || (i > 0 && *s.Pod.CPUPercent != 0) {
			t.Fatalf("sample %d cpu percent %v", i, s.Pod.CPUPercent)
		}
	}
}

// An idle pod's samples spread out, up to 1 << maxIdleShift intervals;
// the first sample that finds it busy again brings back the interval.
func TestRecordBacksOffWhenIdle(t *testing.T) {
	podDir, cg := fakePod(t)
	path := filepath.Join(podDir, lifecycle.FileStats)
	const interval = 10 * time.Millisecond
	stop := Record(openPod(t, podDir), []string{cg}, []string{"a"}, interval, func(err error) { t.Error(err) }).Stop
	defer stop()
	waitFor := func(what string, ok func([]Sample) bool) []Sample {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			b, _ := os.ReadFile(path)
			if got := Parse(b); ok(got) {
				return got
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(path)
				t.Fatalf("no %s in 30 s: %s", what, b)
			}
		}
	}
	longest := interval << maxIdleShift
	got := waitFor("sample at the longest span", func(s []Sample) bool { return len(s) > 0 && s[len(s)-1].Span == longest })
	for i := 1; i < len(got); i++ {
		if want := min(got[i-1].Span*2, longest); i > 1 && got[i].Span != want {
			t.Fatalf("sample %d spans %s after %s, want %s", i, got[i].Span, got[i-1].Span, want)
		}
	}
	// Busy: 50 ms of CPU between two samples.
	if err := os.WriteFile(filepath.Join(cg, "cpu.stat"), []byte("usage_usec 51000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(got)
	got = waitFor("two samples after the pod got busy", func(s []Sample) bool { return len(s) >= n+2 })
	if got[n].Span != longest || got[n].Pod.CPUPercent == nil || *got[n].Pod.CPUPercent < idleCPUPercent {
		t.Fatalf("the busy sample: %+v", got[n])
	}
	if got[n+1].Span != interval {
		t.Fatalf("after a busy sample, span %s, want the interval %s", got[n+1].Span, interval)
	}
}

func TestRecordResumesTornFile(t *testing.T) {
	podDir, cg := fakePod(t)
	var buf bytes.Buffer
	for i := 0; i < 2; i++ {
		b, _ := json.Marshal(sample(i))
		buf.Write(b)
		buf.WriteByte('\n')
	}
	buf.WriteString(`{"time":"2024-05-01T12:00:`) // torn by a crash
	path := filepath.Join(podDir, lifecycle.FileStats)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := Record(openPod(t, podDir), []string{cg}, []string{"a", "gone"}, 20*time.Millisecond, func(err error) { t.Error(err) }).Stop
	time.Sleep(70 * time.Millisecond)
	stop()
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	got := Parse(b)
	if len(got) < 3 || len(got) != len(lines) {
		t.Fatalf("%d samples in %d lines after a torn one: %q", len(got), len(lines), b)
	}
	// An interval of 1s came with the old samples.
	if got[len(got)-1].Span != time.Second {
		t.Fatalf("resumed at span %s, want the file's 1s", got[len(got)-1].Span)
	}
}

func TestDefaultInterval(t *testing.T) {
	t.Setenv(IntervalEnv, "")
	if d := DefaultInterval(); d != 2*time.Second {
		t.Fatalf("default %s", d)
	}
	t.Setenv(IntervalEnv, "150ms")
	if d := DefaultInterval(); d != 150*time.Millisecond {
		t.Fatalf("from the environment %s", d)
	}
	t.Setenv(IntervalEnv, "1ns")
	if d := DefaultInterval(); d != minInterval {
		t.Fatalf("too short %s", d)
	}
	t.Setenv(IntervalEnv, "soon")
	if d := DefaultInterval(); d != 2*time.Second {
		t.Fatalf("bad value %s", d)
	}
}

// openPod opens a test's pod directory as stage1 would see it.
func openPod(t *testing.T, dir string) *lifecycle.Pod {
	t.Helper()
	p, err := lifecycle.OpenAt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// A pod whose cgroups are not recorded (no folders) reads as gone: no
// usage, and no panic.
func TestReadNoFolders(t *testing.T) {
	var r Reader
	for _, dirs := range [][]string{nil, {}} {
		if s, ok := r.Read(dirs, []string{"app"}, time.Now()); ok || s.Pod.Has != 0 {
			t.Fatalf("Read of %#v: %+v, %v; want nothing", dirs, s, ok)
		}
	}
}

// A recording handed over goes on a sample at a time (SampleOnce), as its
// loop would have: each sample's CPU against the one before it in the
// file, and the spans doubling while the pod is idle.
func TestSampleOnceTakesUpRecording(t *testing.T) {
	const interval = 10 * time.Millisecond
	t.Setenv(IntervalEnv, interval.String())
	podDir, cg := fakePod(t)
	path := filepath.Join(podDir, lifecycle.FileStats)
	rec := Record(openPod(t, podDir), []string{cg}, []string{"a"}, interval, func(err error) { t.Error(err) })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if len(Parse(b)) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no two samples in 30 s")
		}
	}
	next, state := rec.Handover()
	b, _ := os.ReadFile(path)
	before := Parse(b)
	if next < 0 || next > interval<<maxIdleShift || state != (samplerState{idle: len(before) - 1, interval: interval}).String() {
		t.Fatalf("handed over %s, %q after %d samples", next, state, len(before))
	}
	// Busy: 50 ms of CPU since the last sample.
	if err := os.WriteFile(filepath.Join(cg, "cpu.stat"), []byte("usage_usec 51000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, idle := range []int{0, 1, 2} {
		want := samplerState{idle: idle, interval: interval}.String()
		span := interval << (len(before) - 1)
		if i > 0 {
			span = interval << (i - 1)
		}
		next, state2, err := SampleOnce(path, []string{cg}, []string{"a"}, state)
		if err != nil {
			t.Fatal(err)
		}
		if state2 != want {
			t.Fatalf("sample %d: state %q, want %q", i, state2, want)
		}
		if wantNext := interval << i; next != wantNext {
			t.Fatalf("sample %d: next in %s, want %s", i, next, wantNext)
		}
		b, _ := os.ReadFile(path)
		got := Parse(b)
		if len(got) != len(before)+i+1 {
			t.Fatalf("%d samples after %d more, want %d", len(got), i+1, len(before)+i+1)
		}
		s := got[len(got)-1]
		if s.Span != span || s.Pod.CPUPercent == nil || (i == 0) != (*s.Pod.CPUPercent > idleCPUPercent) {
			t.Fatalf("sample %d: span %s (want %s), cpu %v", i, s.Span, span, s.Pod.CPUPercent)
		}
		if len(s.Apps) != 1 || s.Apps[0].CPUPercent == nil {
			t.Fatalf("sample %d: apps %+v, want a's CPU against the sample before", i, s.Apps)
		}
		state = state2
	}
	for _, bad := range []string{"", "idle=", "idle=0", "idle=6:interval=10000000", "idle=-1:interval=10000000", "idle=01:interval=10000000", "idle=0:interval=1", "idle=0:interval=+10000000", "idle=0:interval=100000000000000000", "busy=1:interval=10000000"} {
		if _, _, err := SampleOnce(path, []string{cg}, []string{"a"}, bad); err == nil {
			t.Errorf("SampleOnce took state %q", bad)
		}
	}
}
