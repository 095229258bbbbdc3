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
	f       *os.File
	partial []byte
	buf     [32 << 10]byte
}

// read passes every whole line from where it stopped to the end of the
// file, parsed, to fn. Lines that do not parse are skipped.
func (t *tail) read(fn func(Event)) error {
	for {
		n, err := t.f.Read(t.buf[:])
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
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the event log: %w", err)
		}
	}
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

// PollInterval is how often Follow looks for new events.
var PollInterval = 100 * time.Millisecond

// Follow passes to fn the events f selects that are in the log (from
// f.Since), then each new one as it is appended, across rotations, until
// ctx is done or, if f.Until is set, that time has passed. It returns nil
// then. Events already in the log come oldest first; new ones in the order
// they were appended.
//
// It polls the log every PollInterval rather than using inotify: a poll is
// an fstat and a read that finds nothing, it sees a rotation the same way
// it sees an append (the name points to another file), it works on any
// file system (inotify misses writes made through another mount or host,
// on NFS for one), and a tenth of a second is quick enough for a person or
// a script waiting on pods that take longer than that to start.
func Follow(ctx context.Context, dataDir string, f Filter, fn func(Event)) error {
	emit := func(e Event) {
		if f.Match(e) {
			fn(e)
		}
	}
	oldf, curf, err := openGenerations(dataDir)
	if err != nil {
		return err
	}
	// What is in the log now is passed on sorted, as Read does; what comes
	// after, in the order it is appended.
	var past []Event
	collect := func(e Event) { past = append(past, e) }
	if oldf != nil {
		err := (&tail{f: oldf}).read(collect)
		oldf.Close()
		if err != nil {
			if curf != nil {
				curf.Close()
			}
			return err
		}
	}
	var cur *tail
	if curf != nil {
		// Kept open even if it is rotated meanwhile: the loop below reads
		// what was appended to it before the rotation.
		cur = &tail{f: curf}
		if err := cur.read(collect); err != nil {
			curf.Close()
			return err
		}
	}
	sortByTime(past)
	for _, e := range past {
		emit(e)
	}
	defer func() {
		if cur != nil {
			cur.f.Close()
		}
	}()
	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	for {
		last := false
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			last = !f.Until.IsZero() && time.Now().After(f.Until)
		}
		if cur != nil {
			if err := cur.read(emit); err != nil {
				return err
			}
		}
		// Has the log been rotated (or made, the first time)?
		if cur != nil && !isRotated(dataDir, cur.f) {
			if last {
				return nil
			}
			continue
		}
		between, next, err := openGenerations(dataDir)
		if err != nil {
			return err
		}
		if next != nil && (cur == nil || !sameFile(next, cur.f)) {
			if cur != nil {
				// No appender writes to a generation once it is renamed,
				// so this read takes what was appended since the last one
				// and the file is complete.
				err := cur.read(emit)
				// Two rotations since the last look: the generation in
				// between is the old one now. (After three, one is lost;
				// at MaxSize per generation that takes thousands of
				// events in a PollInterval.)
				missed := between != nil && !sameFile(between, cur.f)
				cur.f.Close()
				if err != nil {
					closeAll(between, next)
					return err
				}
				if missed {
					err := (&tail{f: between}).read(emit)
					if err != nil {
						closeAll(between, next)
						return err
					}
				}
			}
			closeAll(between)
			cur = &tail{f: next}
			if err := cur.read(emit); err != nil {
				return err
			}
		} else {
			closeAll(between, next)
		}
		if last {
			return nil
		}
	}
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
