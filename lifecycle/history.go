package lifecycle

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"podctl/events"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sys/unix"
)

// StateChange is one line of a pod's history.
type StateChange struct {
	State string    `json:"state"`
	Time  time.Time `json:"time"`
}

// appendHistory records that the pod entered state (a State's
// name, or a condition of a running pod such as "ready" or "paused") now.
// One write to a file opened for appending, so concurrent writers never
// mix their lines. Not fsynced: the history is for people, and a line
// lost in a power cut costs nothing else.
func (p *Pod) appendHistory(state string) error {
	// Raw calls through the pod's directory: gc appends to thousands of
	// pods' histories, and an *os.File costs each a few more calls.
	fd, err := unix.Openat(p.fd, FileHistory, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("recording the pod's history: %w", &fs.PathError{Op: "open", Path: p.FilePath(FileHistory), Err: err})
	}
	_, err = unix.Write(fd, []byte(time.Now().UTC().Format(time.RFC3339Nano)+" "+state+"\n"))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("recording the pod's history: %w", err)
	}
	return nil
}

// Note records a step of the pod's life: a line of its history, if state
// is not empty (appendHistory), and an event, if ev is not nil (Event,
// which warns rather than fails).
func (p *Pod) Note(state string, ev *events.Event) error {
	if ev != nil {
		p.Event(*ev)
	}
	if state == "" {
		return nil
	}
	return p.appendHistory(state)
}

// History returns the pod's state changes, oldest first. A line that does
// not parse (torn by a crash) is skipped.
func (p *Pod) History() ([]StateChange, error) {
	b, err := p.ReadFile(FileHistory)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	return parseHistory(b), nil
}

// parseHistory reads the lines of a history file, naming each state as
// State.String does whatever spelling the line has. Split by hand rather
// than with a bufio.Scanner, which stops at the first line longer than
// its buffer and would drop every line after it.
func parseHistory(b []byte) []StateChange {
	var out []StateChange
	for _, line := range bytes.Split(b, []byte("\n")) {
		ts, state, ok := strings.Cut(strings.TrimSuffix(string(line), "\r"), " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		// A state is a word or two; a control character (a stray \r
		// left by a line's own \r\n ending) makes the line no change.
		if !ok || err != nil || state == "" || strings.ContainsFunc(state, unicode.IsControl) {
			continue
		}
		// Pods recorded by older versions name some states with a
		// space ("exited garbage"): give them today's names.
		if st, err := ParseState(state); err == nil {
			state = st.String()
		}
		out = append(out, StateChange{State: state, Time: t})
	}
	return out
}
