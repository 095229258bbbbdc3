package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The helper process mode: append EVENTS_TEST_N events from
// EVENTS_TEST_GOROUTINES goroutines to the log in EVENTS_TEST_DIR, with
// MaxSize EVENTS_TEST_MAX, then exit.
func TestMain(m *testing.M) {
	if dir := os.Getenv("EVENTS_TEST_DIR"); dir != "" {
		n, _ := strconv.Atoi(os.Getenv("EVENTS_TEST_N"))
		g, _ := strconv.Atoi(os.Getenv("EVENTS_TEST_GOROUTINES"))
		MaxSize, _ = strconv.ParseInt(os.Getenv("EVENTS_TEST_MAX"), 10, 64)
		a := NewAppender(dir)
		if os.Getenv("EVENTS_TEST_APPENDER") != "" {
			appendOne = func(_ string, e Event) error { return a.Append(e) }
		}
		err := appendMany(dir, os.Getenv("EVENTS_TEST_WRITER"), g, n)
		if cerr := a.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bigMessage makes lines of several KiB, so that a write spans pages and
// an interleaving would show.
var bigMessage = strings.Repeat("0123456789abcdef", 200)

// appendMany appends n events from each of g goroutines. Each event's
// message names its writer and number, followed by bigMessage.
func appendMany(dir, writer string, g, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, g)
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < n; j++ {
				e := Event{Type: Exited, Pod: "0f0f0f0f-0000-4000-8000-000000000000", App: "app",
					Message: fmt.Sprintf("%s/%d/%d %s", writer, i, j, bigMessage)}
				if err := appendOne(dir, e); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// appendOne is Append, or an Appender's in a process whose
// EVENTS_TEST_APPENDER is set (sharedAppender, made by TestMain).
var appendOne = Append

// rawLines checks that every line of the log files is a whole event and
// returns the "writer/goroutine/number" keys they hold.
func rawLines(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	for _, name := range []string{OldLogFile, LogFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a newline", name)
		}
		for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			var e Event
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatalf("%s line %d is not a whole event (%v): %.200q", name, i+1, err, line)
			}
			key, rest, _ := strings.Cut(e.Message, " ")
			if rest != bigMessage {
				t.Fatalf("%s line %d has a damaged message", name, i+1)
			}
			keys = append(keys, key)
		}
	}
	return keys
}

func startWriters(t *testing.T, dir string, procs, goroutines, n int, max int64) []*exec.Cmd {
	return startWritersWith(t, dir, procs, goroutines, n, max, false)
}

// startWritersWith is startWriters, the processes appending through an
// Appender if appender is set.
func startWritersWith(t *testing.T, dir string, procs, goroutines, n int, max int64, appender bool) []*exec.Cmd {
	t.Helper()
	var cmds []*exec.Cmd
	for p := 0; p < procs; p++ {
		// The helper mode of TestMain: the child appends and exits, never
		// running the tests (-test.run matches none), so it cannot start
		// writers of its own.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		mode := "EVENTS_TEST_APPENDER="
		if appender {
			mode += "1"
		}
		cmd.Env = append(os.Environ(), mode, "EVENTS_TEST_DIR="+dir, "EVENTS_TEST_N="+strconv.Itoa(n),
			"EVENTS_TEST_GOROUTINES="+strconv.Itoa(goroutines), "EVENTS_TEST_MAX="+strconv.FormatInt(max, 10),
			"EVENTS_TEST_WRITER=p"+strconv.Itoa(p))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

func TestConcurrentAppendsAreWholeLines(t *testing.T) {
	dir := t.TempDir()
	const procs, goroutines, n = 4, 8, 25
	// No rotation: this test counts every line, and a slow start of this
	// process's own writers could otherwise rotate twice and drop one.
	old := MaxSize
	MaxSize = 1 << 40
	defer func() { MaxSize = old }()
	cmds := startWriters(t, dir, procs, goroutines, n, MaxSize)
	// And goroutines of this process at the same time.
	if err := appendMany(dir, "self", goroutines, n); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	keys := rawLines(t, dir)
	want := (procs + 1) * goroutines * n
	if len(keys) != want {
		t.Fatalf("the log has %d events, want %d", len(keys), want)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("event %s is in the log twice", k)
		}
		seen[k] = true
	}
	evs, err := Read(dir, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != want {
		t.Fatalf("Read returned %d events, want %d", len(evs), want)
	}
}

func TestConcurrentAppendsWithRotation(t *testing.T) {
	dir := t.TempDir()
	const max = 64 << 10
	cmds := startWriters(t, dir, 4, 4, 50, max)
	old := MaxSize
	MaxSize = max
	defer func() { MaxSize = old }()
	if err := appendMany(dir, "self", 4, 50); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	checkRotated(t, dir, max, 20)
}

// checkRotated checks the log of dir after writers (processes or
// goroutines) wrote lines of bigMessage into it, rotating it at max: it
// has lines, and every writer that finds the log too big rotates it
// before it returns, so a generation passes the limit by at most a line
// per writer at work.
func checkRotated(t *testing.T, dir string, max int64, writers int) {
	t.Helper()
	if len(rawLines(t, dir)) == 0 {
		t.Fatal("the log is empty")
	}
	lineSize := int64(len(bigMessage) + 200)
	for _, name := range []string{LogFile, OldLogFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if name == LogFile && os.IsNotExist(err) {
			// The last append rotated the log: no line came after it.
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > max+int64(writers)*lineSize {
			t.Errorf("%s is %d bytes, more than the limit %d allows", name, st.Size(), max)
		}
	}
}

func TestRotationKeepsTimeOrder(t *testing.T) {
	dir := t.TempDir()
	old := MaxSize
	MaxSize = 2 << 10
	defer func() { MaxSize = old }()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const n = 200
	for i := 0; i < n; i++ {
		if err := Append(dir, Event{Time: base.Add(time.Duration(i) * time.Second), Type: Started, Pod: fmt.Sprintf("pod-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{LogFile, OldLogFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Size() > MaxSize+200 {
			t.Errorf("%s is %d bytes, over the limit of %d", name, st.Size(), MaxSize)
		}
	}
	evs, err := Read(dir, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 10 || len(evs) >= n {
		t.Fatalf("Read returned %d events; want the last generations' share of %d", len(evs), n)
	}
	// The events kept are the last ones, consecutive, oldest first, from
	// both generations.
	first := n - len(evs)
	for i, e := range evs {
		if want := fmt.Sprintf("pod-%03d", first+i); e.Pod != want {
			t.Fatalf("event %d is of %s, want %s", i, e.Pod, want)
		}
	}
	if cur := countLines(t, filepath.Join(dir, LogFile)); cur >= len(evs) {
		t.Fatalf("the current generation holds all %d events: the old one was not read", cur)
	}
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

func TestTornLineIsSkipped(t *testing.T) {
	dir := t.TempDir()
	must := func(e Event) {
		t.Helper()
		if err := Append(dir, e); err != nil {
			t.Fatal(err)
		}
	}
	must(Event{Type: Prepared, Pod: "a"})
	// A crash in the middle of a write leaves part of a line.
	f, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-01-02T03:04:05Z","type":"star`)
	f.Close()

	evs, err := Read(dir, Filter{})
	if err != nil {
		t.Fatalf("Read with a torn last line: %v", err)
	}
	if len(evs) != 1 || evs[0].Pod != "a" {
		t.Fatalf("Read with a torn last line returned %+v", evs)
	}
	// The next append is glued to the torn line; it is still read.
	must(Event{Type: Started, Pod: "b", Message: `a "quoted" {"time": message`})
	must(Event{Type: Exited, Pod: "c"})
	evs, err = Read(dir, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []string
	for _, e := range evs {
		pods = append(pods, e.Pod)
	}
	if strings.Join(pods, ",") != "a,b,c" {
		t.Fatalf("after a torn line, Read returned pods %v, want a,b,c", pods)
	}
	// Garbage lines are skipped too.
	f, _ = os.OpenFile(filepath.Join(dir, LogFile), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("not json\n\n{}\n")
	f.Close()
	if evs, err := Read(dir, Filter{}); err != nil || len(evs) != 3 {
		t.Fatalf("Read with garbage lines: %d events, %v", len(evs), err)
	}
}

func TestFilter(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	add := func(sec int, typ, pod, name string) {
		t.Helper()
		if err := Append(dir, Event{Time: base.Add(time.Duration(sec) * time.Second), Type: typ, Pod: pod, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	add(0, Prepared, "aaaa1111", "web")
	add(1, Started, "aaaa1111", "web")
	add(2, Started, "bbbb2222", "")
	add(3, Exited, "bbbb2222", "")
	add(4, Exited, "aaaa1111", "web")
	for _, c := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "0,1,2,3,4"},
		{Filter{Since: base.Add(time.Second)}, "1,2,3,4"},
		{Filter{Until: base.Add(2 * time.Second)}, "0,1,2"},
		{Filter{Since: base.Add(time.Second), Until: base.Add(3 * time.Second)}, "1,2,3"},
		{Filter{Pods: []string{"BBBB"}}, "2,3"},
		{Filter{Types: []string{Started, Exited}}, "1,2,3,4"},
		{Filter{Types: []string{Exited}, Names: []string{"web"}}, "4"},
		{Filter{Names: []string{"we"}}, ""},
	} {
		evs, err := Read(dir, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, strconv.Itoa(int(e.Time.Sub(base)/time.Second)))
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("filter %+v selected %v, want %s", c.f, got, c.want)
		}
	}
}

func TestFollowSeesNewEvents(t *testing.T) {
	dir := t.TempDir()
	oldMax, oldPoll := MaxSize, PollInterval
	MaxSize, PollInterval = 1<<10, 10*time.Millisecond
	defer func() { MaxSize, PollInterval = oldMax, oldPoll }()
	// Before the log exists at all, and an old event Since leaves out.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Event, 100)
	done := make(chan error, 1)
	since := time.Now()
	if err := Append(dir, Event{Time: since.Add(-time.Hour), Type: Prepared, Pod: "old"}); err != nil {
		t.Fatal(err)
	}
	if err := Append(dir, Event{Type: Prepared, Pod: "p0"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- Follow(ctx, dir, Filter{Since: since, Types: []string{Prepared, Started}}, func(e Event) { got <- e })
	}()
	next := func() Event {
		t.Helper()
		select {
		case e := <-got:
			return e
		case err := <-done:
			t.Fatalf("Follow returned early: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("Follow passed on nothing in 5 s")
		}
		return Event{}
	}
	if e := next(); e.Pod != "p0" {
		t.Fatalf("Follow passed %s first, want p0 (the event since --since)", e.Pod)
	}
	// Enough new events to rotate the log several times; Follow passes
	// each once, in order, and skips the type it does not select. Two
	// rounds are less than MaxSize, so there is at most one rotation
	// between two catch-ups, whatever the machine's load.
	for i := 1; i <= 30; i++ {
		if err := Append(dir, Event{Type: Started, Pod: fmt.Sprintf("p%d", i), Message: strings.Repeat("x", 100)}); err != nil {
			t.Fatal(err)
		}
		if err := Append(dir, Event{Type: Exited, Pod: "skipped"}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			for j := i - 1; j <= i; j++ {
				if e := next(); e.Pod != fmt.Sprintf("p%d", j) || e.Type != Started {
					t.Fatalf("event %d from Follow is %s of %s, want started of p%d", j, e.Type, e.Pod, j)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, OldLogFile)); err != nil {
		t.Fatalf("the log was never rotated: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow after cancel: %v", err)
	}
	select {
	case e := <-got:
		t.Fatalf("Follow passed an extra event: %+v", e)
	default:
	}
}

func TestFollowStopsAtUntil(t *testing.T) {
	dir := t.TempDir()
	until := time.Now().Add(200 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- Follow(context.Background(), dir, Filter{Until: until}, func(Event) {}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow went on past --until")
	}
}

func TestRecordWarns(t *testing.T) {
	var buf bytes.Buffer
	old := Warnings
	Warnings = &buf
	defer func() { Warnings = old }()
	Record(filepath.Join(t.TempDir(), "missing"), Event{Type: Started, Pod: "abc"})
	line, err := bufio.NewReader(&buf).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "podctl: warning: ") || !strings.Contains(line, "started event of pod abc") {
		t.Fatalf("Record of a missing data directory said %q", buf.String())
	}
	if err := Append(t.TempDir(), Event{Type: "bogus", Pod: "abc"}); err == nil {
		t.Fatal("Append of an unknown type succeeded")
	}
}

func TestFollowAcrossTwoRotationsBetweenLooks(t *testing.T) {
	dir := t.TempDir()
	oldMax, oldPoll := MaxSize, PollInterval
	// Two 600-byte events pass the limit: five appends rotate twice, most
	// likely within one look of Follow's.
	MaxSize, PollInterval = 1<<10, 300*time.Millisecond
	defer func() { MaxSize, PollInterval = oldMax, oldPoll }()
	if err := Append(dir, Event{Type: Started, Pod: "p0"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var pods []string
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, dir, Filter{}, func(e Event) {
			mu.Lock()
			pods = append(pods, e.Pod)
			mu.Unlock()
		})
	}()
	time.Sleep(50 * time.Millisecond)
	for i := 1; i <= 5; i++ {
		if err := Append(dir, Event{Type: Started, Pod: fmt.Sprintf("p%d", i), Message: strings.Repeat("y", 500)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(pods, ",")
		mu.Unlock()
		if got == "p0,p1,p2,p3,p4,p5" {
			break
		}
		if time.Now().After(deadline) || len(got) > len("p0,p1,p2,p3,p4,p5") {
			t.Fatalf("Follow passed %s, want p0,p1,p2,p3,p4,p5", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
