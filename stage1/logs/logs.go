// Package logs keeps what a pod's apps write to stdout and stderr, in the
// pod, so that it can be read while the pod runs and after it exits.
//
// Each app has one log file, apps/<name>/log, of lines in the CRI logging
// format:
//
//	2026-11-25T12:00:00.123456789Z stdout F hello
//	<time, RFC 3339, UTC>          <stream> <F: full line, P: part of a longer one> <text>
//
// Both streams go to one file, each line as it is read from its stream,
// so lines of one stream keep their order and lines of the two streams are
// interleaved about as they were written; the stream tag lets a reader
// give each line back to the stream it came from.
package logs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"podctl/lifecycle"
	"strings"
	"sync"
	"time"
)

// maxLine is the longest part of a line kept in one entry; longer lines are
// split into partial (P) entries.
const maxLine = 16 * 1024

// Stream names.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// AppLog is the log of one app, shared by the copiers of its streams.
type AppLog struct {
	mu sync.Mutex
	f  *os.File
	// now is the clock; tests replace it.
	now func() time.Time
}

// Open opens (creating or appending to) the log in an app's folder.
func Open(appDir string) (*AppLog, error) {
	f, err := os.OpenFile(filepath.Join(appDir, lifecycle.AppLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening app log: %w", err)
	}
	return &AppLog{f: f, now: time.Now}, nil
}

// Close closes the log file.
func (l *AppLog) Close() error { return l.f.Close() }

// write appends one entry. Not fsynced: a log is for reading, and what the
// last seconds before a power cut wrote is lost with the pod anyway.
func (l *AppLog) write(stream string, text []byte, partial bool) error {
	tag := "F"
	if partial {
		tag = "P"
	}
	var b bytes.Buffer
	b.WriteString(l.now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(text)
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.f.Write(b.Bytes())
	return err
}

// writeLine appends a whole line, cut into partial entries of at most
// maxLine bytes if it is longer.
func (l *AppLog) writeLine(stream string, line []byte) error {
	for len(line) > maxLine {
		if err := l.write(stream, line[:maxLine], true); err != nil {
			return err
		}
		line = line[maxLine:]
	}
	return l.write(stream, line, false)
}

// Copy reads r until it ends, appending each line to the log as stream
// and, if tee is not nil, passing the bytes on to tee as they come. It
// returns when r ends or fails; a failing tee (the caller went away) does
// not stop the log.
func (l *AppLog) Copy(stream string, r io.Reader, tee io.Writer) error {
	var pending []byte
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if tee != nil {
				if _, werr := tee.Write(chunk); werr != nil {
					tee = nil
				}
			}
			pending = append(pending, chunk...)
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				if werr := l.writeLine(stream, pending[:i]); werr != nil {
					return werr
				}
				pending = pending[i+1:]
			}
			for len(pending) >= maxLine {
				if werr := l.write(stream, pending[:maxLine], true); werr != nil {
					return werr
				}
				pending = pending[maxLine:]
			}
			// Keep the unfinished line in a buffer of its own, not in buf.
			pending = append([]byte(nil), pending...)
		}
		if err != nil {
			if len(pending) > 0 {
				if werr := l.write(stream, pending, true); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// Entry is one line of a log.
type Entry struct {
	Time    time.Time
	Stream  string
	Partial bool
	Text    string
}

// Parse reads one log line.
func Parse(line string) (Entry, error) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) < 3 {
		return Entry{}, fmt.Errorf("malformed log line %q", line)
	}
	t, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return Entry{}, fmt.Errorf("malformed log line %q: %w", line, err)
	}
	e := Entry{Time: t, Stream: parts[1], Partial: parts[2] == "P"}
	if len(parts) == 4 {
		e.Text = parts[3]
	}
	return e, nil
}

// Reader reads an app's log, from a point on.
type Reader struct {
	// path is the log file, opened once it exists.
	path string
	f    *os.File
	br   *bufio.Reader
	// partial holds an incomplete last line until its end is written.
	partial string
}

// OpenReader opens an app's log for reading. A log not yet written reads
// as empty.
func OpenReader(appDir string) (*Reader, error) {
	r := &Reader{path: filepath.Join(appDir, lifecycle.AppLog)}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// open opens the log if it exists and is not open yet.
func (r *Reader) open() error {
	if r.f != nil {
		return nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("opening app log: %w", err)
	}
	r.f, r.br = f, bufio.NewReaderSize(f, 64*1024)
	return nil
}

// Close closes the reader.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// Next returns the entries written since the last call (all of them the
// first time). A line still being written is held back until it is whole.
func (r *Reader) Next() ([]Entry, error) {
	// A log not written yet (the pod has not started) may be by now.
	if err := r.open(); err != nil || r.f == nil {
		return nil, err
	}
	var out []Entry
	for {
		s, err := r.br.ReadString('\n')
		if err != nil {
			r.partial += s
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		line := strings.TrimSuffix(r.partial+s, "\n")
		r.partial = ""
		e, err := Parse(line)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

// Tail returns the entries of the last n lines of es, a line being a full
// entry with the partial ones of its stream before it; n < 0 means all.
func Tail(es []Entry, n int) []Entry {
	if n < 0 {
		return es
	}
	lines := 0
	for i := len(es) - 1; i >= 0; i-- {
		// A partial entry not continued by the next one of the list (the
		// stream ended mid-line) ends a line too.
		if !es[i].Partial || i == len(es)-1 || es[i+1].Stream != es[i].Stream {
			if lines == n {
				return es[i+1:]
			}
			lines++
		}
	}
	return es
}

// Print writes entries to the stream they came from; text is given back
// as it was written, partial entries joined to what follows.
func Print(es []Entry, stdout, stderr io.Writer) error {
	for _, e := range es {
		w := stdout
		if e.Stream == Stderr {
			w = stderr
		}
		text := e.Text
		if !e.Partial {
			text += "\n"
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
	return nil
}
