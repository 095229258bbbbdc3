package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"podctl/internal/match"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Filter selects events. Empty fields select everything; the values of one
// list are alternatives, and the fields must all match.
type Filter struct {
	// Since and Until bound the event's time, both included.
	Since, Until time.Time
	// Pods are pod UUIDs or prefixes of them.
	Pods []string
	// Types are event types.
	Types []string
	// Names are pod names, matched whole.
	Names []string
}

// Match reports whether the filter selects e.
func (f Filter) Match(e Event) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && e.Time.After(f.Until) {
		return false
	}
	return match.Any(f.Pods, func(p string) bool { return strings.HasPrefix(e.Pod, strings.ToLower(p)) }) &&
		match.Any(f.Types, func(t string) bool { return e.Type == t }) &&
		match.Any(f.Names, func(n string) bool { return e.Name == n })
}

// Read returns the events of the log of dataDir that f selects, oldest
// first, across both generations. A data directory without a log has no
// events.
func Read(dataDir string, f Filter) ([]Event, error) {
	old, cur, err := openGenerations(dataDir)
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, g := range []*os.File{old, cur} {
		if g == nil {
			continue
		}
		t := &tail{f: g}
		err := t.read(func(e Event) {
			if f.Match(e) {
				out = append(out, e)
			}
		})
		g.Close()
		if err != nil {
			return nil, err
		}
	}
	sortByTime(out)
	return out, nil
}

// sortByTime sorts events oldest first. Appenders take the time before
// they write, so two processes can write in the other order; ties keep
// the log's order.
func sortByTime(evs []Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
}

// openGenerations opens the old generation and the current one; either is
// nil if missing. The current one is opened first: if a rotation happens
// between the two opens, both name the same file, which is then returned
// as the current one only.
func openGenerations(dataDir string) (old, cur *os.File, err error) {
	cur, err = openLog(filepath.Join(dataDir, LogFile))
	if err != nil {
		return nil, nil, err
	}
	old, err = openLog(filepath.Join(dataDir, OldLogFile))
	if err != nil {
		if cur != nil {
			cur.Close()
		}
		return nil, nil, err
	}
	if old != nil && cur != nil && sameFile(old, cur) {
		old.Close()
		old = nil
	}
	return old, cur, nil
}

// openLog opens a generation for reading; nil, nil if it does not exist.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("reading the event log: %w: run podctl as root", err)
		}
		return nil, fmt.Errorf("reading the event log: %w", err)
	}
	return f, nil
}

func sameFile(a, b *os.File) bool {
	sa, erra := a.Stat()
	sb, errb := b.Stat()
	return erra == nil && errb == nil && os.SameFile(sa, sb)
}

// tail reads whole lines from a generation as it grows. A last line with
// no newline yet is kept until its end arrives: it is either being written
// (a reader can see part of a write) or torn by a crash, and then the next
// append completes it into a line that parseLine recovers.
type tail struct {
	f *os.File
	// off is how far f has been read, and mark the last bytes read up to
	// there, which tell a file truncated and written again from one that
	// grew.
	off     int64
	mark    []byte
	partial []byte
	buf     [32 << 10]byte
}

// read passes every whole line from where it stopped to the end of the
// file, parsed, to fn. Lines that do not parse are skipped.
func (t *tail) read(fn func(Event)) error {
	if t.off > 0 {
		rewritten, err := t.rewritten()
		if err != nil {
			return fmt.Errorf("reading the event log: %w", err)
		}
		if rewritten {
			if _, err := t.f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("reading the event log: %w", err)
			}
			t.off, t.partial, t.mark = 0, t.partial[:0], t.mark[:0]
		}
	}
	for {
		n, err := t.f.Read(t.buf[:])
		t.off += int64(n)
		if n > 0 {
			data := append(t.partial, t.buf[:n]...)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				if e, ok := parseLine(data[:i]); ok {
					fn(e)
				}
				data = data[i+1:]
			}
			t.partial = append(t.partial[:0], data...)
			t.remember(t.buf[:n])
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the event log: %w", err)
		}
	}
}

// markSize is how many of the last bytes read a tail keeps to compare.
const markSize = 64

func (t *tail) remember(b []byte) {
	if len(b) >= markSize {
		t.mark = append(t.mark[:0], b[len(b)-markSize:]...)
		return
	}
	t.mark = append(t.mark, b...)
	if len(t.mark) > markSize {
		t.mark = append(t.mark[:0], t.mark[len(t.mark)-markSize:]...)
	}
}

// rewritten reports whether the file was truncated since the last read:
// it is shorter than what was read of it, or the bytes before that point
// are not the ones read there (truncated and written past it again).
func (t *tail) rewritten() (bool, error) {
	st, err := t.f.Stat()
	if err != nil {
		return false, err
	}
	if st.Size() < t.off {
		return true, nil
	}
	var b [markSize]byte
	got := b[:len(t.mark)]
	n, err := t.f.ReadAt(got, t.off-int64(len(got)))
	if err != nil && err != io.EOF {
		return false, err
	}
	return !bytes.Equal(got[:n], t.mark), nil
}

// eventStart is how every line the log writes begins: Event's first field.
var eventStart = []byte(`{"time":`)

// parseLine parses one line. A line that a torn write was glued in front
// of still holds a whole event after its last eventStart.
func parseLine(line []byte) (Event, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Event{}, false
	}
	var e Event
	if err := json.Unmarshal(line, &e); err == nil && e.Type != "" && !e.Time.IsZero() {
		return e, true
	}
	i := bytes.LastIndex(line, eventStart)
	if i <= 0 {
		return Event{}, false
	}
	e = Event{}
	if err := json.Unmarshal(line[i:], &e); err == nil && e.Type != "" && !e.Time.IsZero() {
		return e, true
	}
	return Event{}, false
}

// PollInterval is how often Follow looks for new events when it cannot
// watch the data directory with inotify (no inotify instance left under
// the user's limit, a data directory that does not exist yet).
var PollInterval = 100 * time.Millisecond

// WatchedPollInterval is how often Follow looks all the same when inotify
// wakes it: inotify does not see writes made on another host to a network
// file system, and a look costs an fstat and a read that finds nothing.
var WatchedPollInterval = 5 * time.Second

// Follow passes to fn the events f selects that are in the log (from
// f.Since), then each new one as it is appended, across rotations, until
// ctx is done or, if f.Until is set, that time has passed. It returns nil
// then. Events already in the log come oldest first; new ones in the order
// they were appended.
//
// It sleeps until inotify says a generation of the log changed, so a new
// event is passed on within a few milliseconds of its write; it looks
// every WatchedPollInterval too, and every PollInterval if inotify is not
// to be had. A look sees a rotation, or a log replaced by another file, as
// the log's name pointing to another file, and a truncation as the file
// being shorter than what was read of it.
func Follow(ctx context.Context, dataDir string, f Filter, fn func(Event)) error {
	emit := func(e Event) {
		if f.Match(e) {
			fn(e)
		}
	}
	// Watching before the first read: a change between the two wakes the
	// first look.
	w, werr := watchLog(dataDir)
	defer func() { w.close() }()
	oldf, curf, err := openGenerations(dataDir)
	if err != nil {
		return err
	}
	// What is in the log now is passed on sorted, as Read does; what comes
	// after, in the order it is appended.
	var past []Event
	collect := func(e Event) { past = append(past, e) }
	fl := &following{dataDir: dataDir, emit: emit, old: oldf}
	defer fl.close()
	if oldf != nil {
		if err := (&tail{f: oldf}).read(collect); err != nil {
			closeAll(curf)
			return err
		}
	}
	if curf != nil {
		// Kept open even if it is rotated meanwhile: a look reads what was
		// appended to it before the rotation.
		fl.cur = &tail{f: curf}
		if err := fl.cur.read(collect); err != nil {
			return err
		}
	}
	sortByTime(past)
	for _, e := range past {
		emit(e)
	}

	var wake, failed <-chan struct{}
	interval := PollInterval
	if werr == nil {
		wake, failed, interval = w.wake, w.failed, WatchedPollInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var untilC <-chan time.Time
	if !f.Until.IsZero() {
		until := time.NewTimer(time.Until(f.Until))
		defer until.Stop()
		untilC = until.C
	}
	for {
		last := false
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-untilC:
			last = true
		case <-failed:
			// Reading inotify failed: poll from now on.
			w.close()
			w, wake, failed = nil, nil, nil
			ticker.Reset(PollInterval)
		case <-ticker.C:
			if w == nil && errors.Is(werr, unix.ENOENT) {
				// The data directory was missing; once it is made, watch it.
				if w, werr = watchLog(dataDir); werr == nil {
					wake, failed = w.wake, w.failed
					ticker.Reset(WatchedPollInterval)
				}
			}
		}
		if !f.Until.IsZero() && time.Now().After(f.Until) {
			last = true
		}
		if err := fl.look(); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// following is where Follow is in the log.
type following struct {
	dataDir string
	emit    func(Event)
	// cur is the generation being read, nil before the log exists.
	cur *tail
	// old is the old generation as it was when cur was opened (nil if
	// none), kept open so that its inode number is not given to another
	// file: a look that finds it still there does not read it again.
	old *os.File
}

// look passes on what was appended since the last look, and follows the
// log to a new file if it was rotated, replaced or made.
func (fl *following) look() error {
	if fl.cur != nil {
		if err := fl.cur.read(fl.emit); err != nil {
			return err
		}
		if !isRotated(fl.dataDir, fl.cur.f) {
			return nil
		}
	}
	between, next, err := openGenerations(fl.dataDir)
	if err != nil {
		return err
	}
	if next == nil || (fl.cur != nil && sameFile(next, fl.cur.f)) {
		closeAll(between, next)
		return nil
	}
	if fl.cur != nil {
		// No appender writes to a generation once it is renamed, so this
		// read takes what was appended since the last one and the file
		// is complete.
		err := fl.cur.read(fl.emit)
		// Two rotations since the last look: the generation in between is
		// the old one now, unread. (After three, one is lost; at MaxSize
		// a generation, that takes thousands of events between looks.)
		// Not so when the log was replaced or removed rather than
		// rotated: the old generation is then the one it was.
		missed := between != nil && !sameFile(between, fl.cur.f) &&
			(fl.old == nil || !sameFile(between, fl.old))
		if err == nil && missed {
			err = (&tail{f: between}).read(fl.emit)
		}
		fl.cur.f.Close()
		fl.cur = nil
		if err != nil {
			closeAll(between, next)
			return err
		}
	}
	closeAll(fl.old)
	fl.old = between
	fl.cur = &tail{f: next}
	return fl.cur.read(fl.emit)
}

func (fl *following) close() {
	if fl.cur != nil {
		closeAll(fl.cur.f)
	}
	closeAll(fl.old)
}

// isRotated reports whether the log's name now points to another file
// than f (or to none).
func isRotated(dataDir string, f *os.File) bool {
	st, err := os.Lstat(filepath.Join(dataDir, LogFile))
	if err != nil {
		return true
	}
	fst, err := f.Stat()
	return err != nil || !os.SameFile(st, fst)
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}
