// Package layout reads and writes the file that records which version of
// an on-disk layout a folder has: a pod directory's (lifecycle) and the
// image store's (store). Each owner keeps its own version number; this
// package only knows the file.
//
// The file is small JSON, written atomically when the folder is made:
//
//	{"layout":1,"written_by":"podctl 0.1.0-dev"}
//
// A folder without the file predates layout versions and is version 1. A
// reader proceeds with a version it knows (1 up to its own) and refuses a
// newer one, or a file it cannot read, with one line that names the version
// and the podctl that wrote it. Other fields are ignored, so that a later
// version may add some.
package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
	"podctl/internal/version"
)

// MaxSize is the largest layout file read; a real one is under 100 bytes.
const MaxSize = 4096

// maxWrittenBy is how many characters of written_by an error shows.
const maxWrittenBy = 64

// Record is the content of a layout file.
type Record struct {
	// Layout is the version of the folder's layout, 1 or more.
	Layout int `json:"layout"`
	// WrittenBy names the program that made the folder: "podctl VERSION".
	WrittenBy string `json:"written_by"`
}

// New is the record this podctl writes for a folder of layout version v.
func New(v int) Record {
	return Record{Layout: v, WrittenBy: "podctl " + version.Podctl}
}

// Marshal is the file content of r.
func (r Record) Marshal() []byte {
	b, _ := json.Marshal(r) // an int and a string always encode
	return append(b, '\n')
}

// Parse reads the content of a layout file. A layout version is a whole
// number from 1; written_by is optional and comes back printable, on one
// line and at most 64 characters long. Errors are one line.
func Parse(b []byte) (Record, error) {
	if len(b) > MaxSize {
		return Record{}, fmt.Errorf("it is larger than %d bytes", MaxSize)
	}
	if r, ok := parseWritten(b); ok {
		return r, nil
	}
	return parseJSON(b)
}

// parseWritten reads the layout file as podctl writes it (Marshal),
// `{"layout":N,"written_by":"S"}` and a newline, N one digit and S plain
// printable ASCII, without a JSON decoder: list reads one per pod. It
// reports false for anything else, which parseJSON reads, the same way.
func parseWritten(b []byte) (Record, bool) {
	const head, mid, tail = `{"layout":`, `,"written_by":"`, "\"}\n"
	if len(b) < len(head)+1+len(mid)+len(tail) || string(b[:len(head)]) != head || string(b[len(b)-len(tail):]) != tail {
		return Record{}, false
	}
	v := b[len(head)]
	if v < '1' || v > '9' || string(b[len(head)+1:len(head)+1+len(mid)]) != mid {
		return Record{}, false
	}
	by := b[len(head)+1+len(mid) : len(b)-len(tail)]
	for _, c := range by {
		if c < ' ' || c > '~' || c == '"' || c == '\\' {
			return Record{}, false
		}
	}
	return Record{Layout: int(v - '0'), WrittenBy: printable(string(by))}, true
}

// parseJSON is Parse for any JSON layout record.
func parseJSON(b []byte) (Record, error) {
	var raw struct {
		Layout    *int64  `json:"layout"`
		WrittenBy *string `json:"written_by"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Record{}, fmt.Errorf("it is not a layout record: %s", oneLine(err.Error()))
	}
	if raw.Layout == nil {
		return Record{}, errors.New("it names no layout version")
	}
	// Bounded so that the version prints, and compares, as it was written.
	if *raw.Layout < 1 || *raw.Layout > 1<<30 {
		return Record{}, fmt.Errorf("%d is not a layout version", *raw.Layout)
	}
	r := Record{Layout: int(*raw.Layout)}
	if raw.WrittenBy != nil {
		r.WrittenBy = printable(*raw.WrittenBy)
	}
	return r, nil
}

// printable keeps s to one line of printable characters, at most
// maxWrittenBy of them, for an error message.
func printable(s string) string {
	s = strings.TrimSpace(strings.Map(func(c rune) rune {
		if c == utf8.RuneError || !unicode.IsGraphic(c) {
			return '?'
		}
		return c
	}, s))
	if r := []rune(s); len(r) > maxWrittenBy {
		s = strings.TrimSpace(string(r[:maxWrittenBy])) + "..."
	}
	return s
}

// oneLine replaces line breaks in an error text that quotes input.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

// NewerError refuses a folder whose layout is newer than this podctl knows.
type NewerError struct {
	// Subject names the folder: "pod UUID", "image store DIR".
	Subject string
	Found   Record
	// Known is the newest version this podctl reads.
	Known int
}

func (e *NewerError) Error() string {
	by := "an unknown program"
	if e.Found.WrittenBy != "" {
		by = e.Found.WrittenBy
	}
	return fmt.Sprintf("%s has layout version %d, written by %s; this podctl (%s) knows version %d: use a newer podctl",
		e.Subject, e.Found.Layout, by, version.Podctl, e.Known)
}

// DamagedError refuses a folder whose layout file cannot be read.
type DamagedError struct {
	Subject string
	// Path is the layout file.
	Path string
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s has a layout file %s that cannot be read (%v): its layout is unknown, so podctl leaves it alone", e.Subject, e.Path, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// Load reads the layout file name in the folder open as dirfd (or a path
// from the working directory with unix.AT_FDCWD) and checks it against
// known, the newest version the caller reads. A missing file is version 1.
// subject names the folder in errors ("pod UUID"); path is the file's
// path, for them. The file is opened without following a symlink and
// without blocking on a FIFO, and read only if it is a regular file.
func Load(dirfd int, name, subject, path string, known int) (Record, error) {
	fd, err := fsutil.OpenReadAt(dirfd, name)
	if err == unix.ENOENT {
		return Record{Layout: 1}, nil
	}
	if err != nil {
		return Record{}, &DamagedError{subject, path, err}
	}
	// Raw calls on a buffer of the stack: list opens one per pod.
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Record{}, &DamagedError{subject, path, errors.New("it is not a regular file")}
	}
	var buf [MaxSize + 1]byte
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Record{}, &DamagedError{subject, path, err}
		}
		n += m
		// A regular file that gives less than asked is at its end.
		if m == 0 || n < len(buf) {
			break
		}
	}
	b := buf[:n]
	r, err := Parse(b)
	if err != nil {
		return Record{}, &DamagedError{subject, path, err}
	}
	if r.Layout > known {
		return r, &NewerError{Subject: subject, Found: r, Known: known}
	}
	return r, nil
}
