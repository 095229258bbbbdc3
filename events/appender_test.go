package events

import (
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/flock"
)

// lockIsFree reports whether the log's lock can be taken exclusively
// now, as a rotation takes it.
func lockIsFree(t *testing.T, dir string) bool {
	t.Helper()
	fd, err := unix.Open(filepath.Join(dir, LockFile), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	err = flock.TryLockFD(fd, flock.Exclusive)
	if err != nil && !errors.Is(err, flock.ErrLocked) {
		t.Fatal(err)
	}
	return err == nil
}

// TestAppenderWritesEachEventAtOnce checks that an Appender's events are
// in the log, whole and in order, as soon as Append returns (a command
// killed after it loses none), and that it holds the log's lock for at
// most appenderLines events and none after Close.
func TestAppenderWritesEachEventAtOnce(t *testing.T) {
	dir := t.TempDir()
	// Long enough that only the count of events releases the lock here.
	hold := appenderHold
	appenderHold = time.Hour
	defer func() { appenderHold = hold }()
	a := NewAppender(dir)
	const n = appenderLines*2 + 5
	for i := 0; i < n; i++ {
		e := Event{Type: GCMarked, Pod: "0f0f0f0f-0000-4000-8000-000000000000", Message: strconv.Itoa(i) + " " + bigMessage}
		if err := a.Append(e); err != nil {
			t.Fatal(err)
		}
		if got := len(rawLines(t, dir)); got != i+1 {
			t.Fatalf("after %d appends the log holds %d lines", i+1, got)
		}
		// Released after every appenderLines events, held in between.
		if free := lockIsFree(t, dir); free != ((i+1)%appenderLines == 0) {
			t.Fatalf("after %d events the lock is free: %v", i+1, free)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !lockIsFree(t, dir) {
		t.Fatal("the lock is held after Close")
	}
	evs, err := Read(dir, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("read %d events, want %d", len(evs), n)
	}
	for i, e := range evs {
		if want := strconv.Itoa(i) + " " + bigMessage; e.Message != want {
			t.Fatalf("event %d is %.20q, want %.20q: out of order", i, e.Message, want)
		}
		if e.Time.IsZero() {
			t.Fatalf("event %d has no time", i)
		}
	}
	// Usable again after Close.
	if err := a.Append(Event{Type: Removed, Pod: "0f0f0f0f-0000-4000-8000-000000000000"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(Event{Type: "no such type"}); err == nil {
		t.Fatal("an event of an unknown type was appended")
	}
}

// TestAppendersWithRotation has processes appending through Appenders
// and others through Append, with a small MaxSize: every line lands
// whole, the generations stay bounded and nobody waits for ever on a
// rotation (the test ends).
func TestAppendersWithRotation(t *testing.T) {
	dir := t.TempDir()
	const max = 64 << 10
	cmds := startWritersWith(t, dir, 2, 4, 50, max, true)
	cmds = append(cmds, startWritersWith(t, dir, 2, 4, 50, max, false)...)
	old := MaxSize
	MaxSize = max
	defer func() { MaxSize = old }()
	a := NewAppender(dir)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				e := Event{Type: Exited, Pod: "0f0f0f0f-0000-4000-8000-000000000000", App: "app",
					Message: "self/" + strconv.Itoa(g) + "/" + strconv.Itoa(j) + " " + bigMessage}
				if err := a.Append(e); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	// An Appender rotates when a write of its own passes the limit, as
	// Append does.
	checkRotated(t, dir, max, 20)
}
