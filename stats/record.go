package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"podctl/cgroup"
	"podctl/internal/fsutil"
	"podctl/internal/resident"
	"podctl/lifecycle"
)

// MaxSamples is the most samples lifecycle.FileStats holds: when it is full, adjacent
// pairs are averaged and the interval doubles. At 2 s, the first halving
// comes after about 17 minutes; the file stays under a few hundred bytes
// per app and sample times MaxSamples. A variable for tests.
var MaxSamples = 512

// IntervalEnv names the environment variable that overrides the default
// interval (a Go duration such as 100ms), for tests and for users who want
// a finer history.
const IntervalEnv = "PODCTL_STATS_INTERVAL"

// defaultInterval is how often stage1 records a sample, unless
// IntervalEnv says otherwise.
const defaultInterval = 2 * time.Second

// maxInterval is where the doubling stops; the file's bound still holds.
const maxInterval = 24 * time.Hour

// An idle pod's samples spread out: each sample that finds the pod using
// less than idleCPUPercent of one CPU doubles the wait for the next, up to
// 1 << maxIdleShift intervals (64 s at the default); one that finds it
// busy brings the interval back. A thousand idle pods then cost their
// host next to nothing, and a busy one keeps its fine history.
const (
	idleCPUPercent = 0.5
	maxIdleShift   = 5
)

// isIdle reports whether sample s finds its pod idle. The first sample,
// with nothing before it to measure the CPU used against, does not.
func isIdle(s Sample) bool {
	return s.Pod.CPUPercent != nil && *s.Pod.CPUPercent < idleCPUPercent
}

// minInterval keeps a mistaken IntervalEnv from making stage1 spin.
const minInterval = 10 * time.Millisecond

// DefaultInterval is how often a pod's stage1 records a sample: 2 s, or
// the duration in $PODCTL_STATS_INTERVAL.
func DefaultInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(IntervalEnv)); err == nil && d > 0 {
		return max(d, minInterval)
	}
	return defaultInterval
}

// Record starts recording, in the background, the usage of a pod (its
// cgroup folders dirs, and its apps, by name) every interval
// (DefaultInterval if 0) into the pod's lifecycle.FileStats, and returns
// the recording, which Stop stops. stage1 starts it once it has made the
// pod's cgroups; the first sample is taken one interval later. It must
// run in a process outside the pod's cgroups, which a pause freezes: the
// pod's stage1, which may hand it on (Handover) to a process that takes
// a sample at a time (SampleOnce). Recording is best-effort: a failure is
// said once through warn and never stops the pod.
func Record(p *lifecycle.Pod, dirs, apps []string, interval time.Duration, warn func(error)) *Recording {
	if interval <= 0 {
		interval = DefaultInterval()
	}
	r := &recorder{path: p.FilePath(lifecycle.FileStats), dirs: dirs, apps: apps, interval: max(interval, minInterval), warnf: warn}
	rec := &Recording{done: make(chan struct{}), finished: make(chan struct{}), next: time.Now().Add(r.interval), interval: r.interval}
	go func() {
		defer close(rec.finished)
		r.run(rec)
	}()
	return rec
}

// Recording is a pod's usage being recorded by Record.
type Recording struct {
	once           sync.Once
	done, finished chan struct{}
	// mu guards where the recording stands: when its next sample is
	// due, and how idle the pod was found (the span's shift).
	mu       sync.Mutex
	next     time.Time
	idle     int
	interval time.Duration
}

// Stop stops the recording and waits for its last write. Once is enough:
// a second call does nothing.
func (rec *Recording) Stop() {
	rec.once.Do(func() {
		close(rec.done)
		<-rec.finished
	})
}

// Handover stops the recording and returns how long until its next
// sample is due, and the state to give SampleOnce for it.
func (rec *Recording) Handover() (time.Duration, string) {
	rec.Stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return max(time.Until(rec.next), 0), samplerState{idle: rec.idle, interval: rec.interval}.String()
}

// samplerState is what a sampler hands the next (SampleOnce): how many
// idle samples in a row came before the next sample, up to maxIdleShift,
// and the interval the samples are at, which a halving of the file
// doubles.
type samplerState struct {
	idle     int
	interval time.Duration
}

func (st samplerState) String() string {
	return "idle=" + strconv.Itoa(st.idle) + ":interval=" + strconv.FormatInt(int64(st.interval), 10)
}

// parseSamplerState is the inverse of samplerState.String.
func parseSamplerState(s string) (samplerState, error) {
	bad := fmt.Errorf("sampler state %q is not idle=0 to %d:interval=NANOSECONDS", s, maxIdleShift)
	idle, interval, ok := strings.Cut(s, ":")
	idle, ok1 := strings.CutPrefix(idle, "idle=")
	interval, ok2 := strings.CutPrefix(interval, "interval=")
	n, err1 := strconv.Atoi(idle)
	ns, err2 := strconv.ParseInt(interval, 10, 64)
	if !ok || !ok1 || !ok2 || err1 != nil || err2 != nil || strconv.Itoa(n) != idle || strconv.FormatInt(ns, 10) != interval {
		return samplerState{}, bad
	}
	st := samplerState{idle: n, interval: time.Duration(ns)}
	if st.idle < 0 || st.idle > maxIdleShift || st.interval < minInterval || st.interval > maxInterval {
		return samplerState{}, bad
	}
	return st, nil
}

// SampleOnce takes one sample of the usage of a pod (its cgroup folders
// dirs, and its apps) into its stats file at path, as a recording's loop
// does, for a process that lives for one sample: it picks up the file
// (how many samples it holds, the CPU counters of its last), and state
// says how idle the pod was found before and the interval (Handover, or
// the SampleOnce before). It returns how long until the next sample is
// due, and its state. An error is the first failure to record, which ends
// the recording: a sampler run every few seconds would say it every time.
func SampleOnce(path string, dirs, apps []string, state string) (next time.Duration, nextState string, err error) {
	st, err := parseSamplerState(state)
	if err != nil {
		return 0, "", err
	}
	var failed error
	r := &recorder{path: path, dirs: dirs, apps: apps, interval: st.interval, warnf: func(e error) { failed = e }}
	r.pickUp()
	rd := readerAfter(r.last)
	st.idle = r.sample(&rd, r.interval<<st.idle, st.idle)
	if failed != nil {
		return 0, "", failed
	}
	st.interval = r.interval
	return r.interval << st.idle, st.String(), nil
}

// readerAfter is a Reader whose reading before was sample last (nil:
// none), as recorded in a pod's file.
func readerAfter(last *Sample) Reader {
	var rd Reader
	if last == nil {
		return rd
	}
	rd.prevTime = last.Time
	if last.Pod.Has&cgroup.HasCPU != 0 {
		v := last.Pod.CPUNanos
		rd.prevPod = &v
	}
	rd.prevApps = map[string]uint64{}
	for _, a := range last.Apps {
		if a.Has&cgroup.HasCPU != 0 {
			rd.prevApps[a.Name] = a.CPUNanos
		}
	}
	return rd
}

// recorder is the state of one pod's Record.
type recorder struct {
	path       string
	dirs, apps []string
	interval   time.Duration
	// n is the number of samples in the file, last the last of them (nil:
	// none), as resume found them.
	n      int
	last   *Sample
	warnf  func(error)
	warned bool
	// torn is set when a write failed and may have left part of a line.
	torn bool
}

func (r *recorder) run(rec *Recording) {
	// The first sample is taken one interval in: a pod's start is when
	// every millisecond counts, and a pod that ends sooner has no history
	// worth a file.
	select {
	case <-rec.done:
		return
	case <-time.After(r.interval):
	}
	r.resume()
	var rd Reader
	next := time.Now()
	// span is the stretch the next sample stands for: the interval, or a
	// multiple of it (1 << idle) while the pod is idle.
	span, idle := r.interval, 0
	for {
		idle = r.sample(&rd, span, idle)
		// The sample's code and garbage are not needed until the next.
		if err := resident.ShedAgain(); err != nil {
			r.warn(err)
		}
		span = r.interval << idle
		next = next.Add(span)
		wait := time.Until(next)
		if wait < 0 {
			// Late (a loaded machine): the next sample waits a whole
			// span rather than coming in a burst.
			next, wait = time.Now().Add(span), span
		}
		rec.mu.Lock()
		rec.next, rec.idle, rec.interval = next, idle, r.interval
		rec.mu.Unlock()
		select {
		case <-rec.done:
			return
		case <-time.After(wait):
		}
	}
}

// sample takes one sample with rd, standing for span, and adds it to the
// file. idle is how many idle samples in a row came before it; it
// returns that count with this one.
func (r *recorder) sample(rd *Reader, span time.Duration, idle int) int {
	// Nothing to read once the pod's cgroups are gone, at its end.
	s, ok := rd.Read(r.dirs, r.apps, time.Now())
	if !ok {
		return idle
	}
	s.Span = span
	r.add(s)
	if isIdle(s) {
		return min(idle+1, maxIdleShift)
	}
	return 0
}

// resume picks up a file left by an earlier recorder of the pod: it cuts
// a line torn by a crash, so that the next one starts on a line of its
// own, counts the samples and takes up the interval they were recorded at.
func (r *recorder) resume() {
	samples := Parse(r.readCut())
	r.n, r.last = len(samples), nil
	if len(samples) > 0 {
		r.last = &samples[len(samples)-1]
		// The shortest span is the interval they were recorded at (halve
		// doubles every span alike); the longer ones stood for idle
		// stretches.
		shortest := samples[0].Span
		for _, s := range samples {
			if s.Span > 0 && (shortest <= 0 || s.Span < shortest) {
				shortest = s.Span
			}
		}
		// Bounded: a file that claims a span past the doubling's end
		// (it is the pod's, and a fly pod's root app can write it) must
		// not make the next sample wait for ever, or overflow.
		r.interval = min(max(r.interval, shortest), maxInterval)
	}
}

// readCut reads the file, and cuts a line torn by a crash from its end,
// so that the next one starts on a line of its own. A file that is not
// there is empty.
func (r *recorder) readCut() []byte {
	r.torn = false
	b, err := os.ReadFile(r.path)
	if err != nil {
		if !os.IsNotExist(err) {
			r.warn(err)
		}
		return nil
	}
	if keep := bytes.LastIndexByte(b, '\n') + 1; keep < len(b) {
		if err := os.Truncate(r.path, int64(keep)); err != nil {
			r.warn(err)
		}
		b = b[:keep]
	}
	return b
}

// pickUp is resume for a sampler that the state handed it gives the
// interval: it cuts a torn line, counts the lines and reads the last
// sample alone, not every one (a full file is 512 lines of JSON, every
// few seconds).
func (r *recorder) pickUp() {
	r.n, r.last = 0, nil
	b := r.readCut()
	r.n = bytes.Count(b, []byte{'\n'})
	b = bytes.TrimSuffix(b, []byte{'\n'})
	if last := Parse(b[bytes.LastIndexByte(b, '\n')+1:]); len(last) == 1 {
		r.last = &last[0]
	}
}

// add appends s to the file, halving the file first if it is full.
func (r *recorder) add(s Sample) {
	if r.torn {
		r.resume()
	}
	if r.n >= MaxSamples {
		if err := r.halve(); err != nil {
			// Dropping the sample keeps the bound.
			r.warn(err)
			return
		}
	}
	line, err := json.Marshal(s)
	if err != nil {
		r.warn(err)
		return
	}
	// One write of a whole line, in append mode: a reader sees whole
	// lines, or a torn last one after a crash, which it skips. Not
	// fsynced: the history is an aid, not a record the pod needs; what a
	// power cut loses is its last seconds.
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		r.warn(err)
		return
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.torn = true
		r.warn(err)
		return
	}
	r.n++
}

// halve replaces the file with its samples averaged in adjacent pairs, and
// doubles the interval, so that a sample stands for as long a stretch as
// the averaged ones do.
func (r *recorder) halve() error {
	b, err := os.ReadFile(r.path)
	if err != nil {
		return err
	}
	h := halve(Parse(b))
	var buf bytes.Buffer
	for _, s := range h {
		line, err := json.Marshal(s)
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	// Atomic, so that a reader sees the old file or the new one whole;
	// not durable, as the appends are not.
	if err := fsutil.WriteFile(r.path, buf.Bytes(), 0o600, false); err != nil {
		return err
	}
	r.n = len(h)
	r.interval = min(r.interval*2, maxInterval)
	return nil
}

// warn says the first error on stderr; the rest would only repeat it.
func (r *recorder) warn(err error) {
	if r.warned {
		return
	}
	r.warned = true
	if r.warnf != nil {
		r.warnf(fmt.Errorf("recording the pod's usage: %w", err))
	}
}

// Parse reads the samples of a pod's lifecycle.FileStats. Lines that are not a whole
// sample (the last one, torn by a crash) are skipped.
func Parse(b []byte) []Sample {
	var out []Sample
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var s Sample
		if err := json.Unmarshal(line, &s); err != nil || s.Time.IsZero() {
			continue
		}
		out = append(out, s)
	}
	return out
}
