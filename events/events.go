// Package events keeps the pod event log: an append-only record, in the
// data directory, of what happened to pods (prepared, started, ready,
// paused, resumed, restarted, exited, gc-marked, removed; applied,
// replaced and pruned by podctl apply). Any podctl
// process writes to it, with no daemon in between; `podctl events` reads
// it, and follows it as it grows.
//
// On disk, in the data directory:
//
//	events.log     the current generation: one JSON object a line
//	events.log.1   the generation before it, replaced at each rotation
//	events.lock    the flock that orders appends against rotation
//
// The protocol:
//
//	| who       | lock on events.lock | does                                                      |
//	| --------- | ------------------- | --------------------------------------------------------- |
//	| appender  | shared              | open events.log (O_APPEND), one write(2) of a whole line, |
//	|           |                     | fstat; close                                              |
//	| Appender  | shared, kept        | as an appender, the lock and log kept open between events |
//	|           |                     | (at most 64 of them, or 20 ms), for a command recording   |
//	|           |                     | many (gc's marks); each line written when appended        |
//	| rotator   | exclusive           | an appender that saw the log pass MaxSize: stat again,    |
//	|           |                     | and if still too big rename events.log to events.log.1    |
//	| reader    | none                | open events.log, then events.log.1 (same inode: skip it); |
//	|           |                     | read the old generation, then the current one             |
//
// Appenders share the lock, so they never wait for each other; O_APPEND
// makes each write(2) land whole at the end of the file, so lines from
// concurrent processes never interleave. Holding the lock from open to
// write means no appender ever writes into a generation after it has been
// renamed away, so a rotation loses nothing but the generation it replaces.
// The log is therefore bounded at about twice MaxSize.
//
// Readers take no lock (a non-root reader could not create the lock file,
// and a reader must never hold up a pod operation). Opening the current
// generation first and the old one second is what makes that safe: a
// rotation in between shows up as both descriptors naming the same file.
//
// Crash safety: the log is not fsynced. It is a record to watch and to
// script against, like an app's log; an fsync per event would add
// milliseconds to every pod operation, and what a power cut loses is the
// last few events. A crash in the middle of a write can leave a torn last
// line, with no newline; the next append is then glued to it. Readers skip
// a line that does not parse, after trying the last `{"time":` in it (JSON
// escapes every quote inside a string, so that text only starts an event).
//
// Recording an event must never fail a pod operation: callers use Record
// or RecordForPod, which print a warning on stderr when the append fails.
package events

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"podctl/datadir"
	"podctl/internal/flock"
)

// The types of event.
const (
	// Prepared: `prepare` made the pod, ready for run-prepared.
	Prepared = "prepared"
	// Started: the pod moved to run/ and its stage1 takes over.
	Started = "started"
	// Ready: every app of the pod has started (or said READY=1).
	Ready = "ready"
	// Paused: the pod's processes were frozen.
	Paused = "paused"
	// Resumed: the pod's processes were thawed.
	Resumed = "resumed"
	// Restarted: an app was started again by its restart policy.
	Restarted = "restarted"
	// Exited: an app, or the pod, ended; ExitCode says how.
	Exited = "exited"
	// GCMarked: gc or rm marked the pod for collection.
	GCMarked = "gc-marked"
	// Removed: the pod's directory was deleted.
	Removed = "removed"
	// Applied: podctl apply started the pod from its pod file.
	Applied = "applied"
	// Replaced: podctl apply stopped and removed the pod, as its pod file
	// changed; the pod started in its place has an Applied event.
	Replaced = "replaced"
	// Pruned: podctl apply stopped and removed the pod, as its pod file
	// is gone.
	Pruned = "pruned"
)

// Types lists every event type, in the order of a pod's life.
var Types = []string{Prepared, Started, Ready, Paused, Resumed, Restarted, Exited, GCMarked, Removed, Applied, Replaced, Pruned}

// IsType reports whether s is one of Types.
func IsType(s string) bool {
	for _, t := range Types {
		if s == t {
			return true
		}
	}
	return false
}

// Event is one line of the log.
type Event struct {
	// Time is when it happened; Append sets it to now when it is zero.
	Time time.Time `json:"time"`
	// Type is one of Types.
	Type string `json:"type"`
	// Pod is the pod's UUID.
	Pod string `json:"pod"`
	// Name is the pod's name, empty for a pod without one.
	Name string `json:"name,omitempty"`
	// App is the app the event is about, for app events.
	App string `json:"app,omitempty"`
	// ExitCode is the exit code of an exited app or pod.
	ExitCode *int `json:"exit_code,omitempty"`
	// Message says more, in a sentence.
	Message string `json:"message,omitempty"`
}

// File names in the data directory.
const (
	// LogFile is the current generation of the log.
	LogFile = datadir.EventsLog
	// OldLogFile is the previous generation.
	OldLogFile = datadir.EventsOldLog
	// LockFile orders appends against rotation.
	LockFile = datadir.EventsLock
)

// MaxSize is the size past which the log is rotated. The log holds at most
// about twice this (two generations). A variable so that tests can lower it.
var MaxSize int64 = 1 << 20

// maxMessage bounds an event's message, so that one line stays small.
const maxMessage = 4096

// Append adds e to the event log of the data directory dataDir, which must
// exist. The log file is created if missing, and rotated when it grows past
// MaxSize.
func Append(dataDir string, e Event) error {
	line, err := encodeLine(&e)
	if err != nil {
		return err
	}
	// A raw descriptor, not an *os.File, whose making costs an fcntl
	// and an epoll_ctl: gc records an event for each pod it marks.
	lockPath := filepath.Join(dataDir, LockFile)
	lock, err := unix.Open(lockPath, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("recording %s event of pod %s: %w", e.Type, e.Pod, &fs.PathError{Op: "open", Path: lockPath, Err: err})
	}
	defer unix.Close(lock)
	if err := flock.LockFD(lock, flock.Shared); err != nil {
		return fmt.Errorf("recording %s event of pod %s: %w", e.Type, e.Pod, &fs.PathError{Op: "lock", Path: lockPath, Err: err})
	}
	size, err := appendLine(filepath.Join(dataDir, LogFile), line)
	if uerr := flock.UnlockFD(lock); err == nil && uerr != nil {
		err = &fs.PathError{Op: "unlock", Path: lockPath, Err: uerr}
	}
	if err != nil {
		return fmt.Errorf("recording %s event of pod %s: %w", e.Type, e.Pod, err)
	}
	if size > MaxSize {
		if err := rotate(dataDir, lock, lockPath); err != nil {
			return fmt.Errorf("rotating the event log: %w", err)
		}
	}
	return nil
}

// encodeLine is e as a line of the log, its time set to now if zero and
// its message bounded.
func encodeLine(e *Event) ([]byte, error) {
	if !IsType(e.Type) {
		return nil, fmt.Errorf("recording event: unknown type %q", e.Type)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if len(e.Message) > maxMessage {
		e.Message = e.Message[:maxMessage] + "..."
	}
	line, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("recording %s event of pod %s: %w", e.Type, e.Pod, err)
	}
	return append(line, '\n'), nil
}

// appendLine writes line at the end of the file path with a single
// write(2) and returns the file's size after it. The caller holds the
// shared lock.
func appendLine(path string, line []byte) (int64, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := writeLine(fd, path, line); err != nil {
		return 0, err
	}
	return sizeOf(fd, path)
}

// writeLine is appendLine's write to the log open (O_APPEND) as fd.
func writeLine(fd int, path string, line []byte) error {
	var err error
	// One write(2), never a loop: a second write for the rest of a short
	// one could land after another process's line. O_APPEND positions and
	// writes under the inode's lock, so the line lands whole.
	var n int
	for {
		n, err = unix.Write(fd, line)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	if n != len(line) {
		// A short write (a full disk) leaves a torn line, which readers
		// skip; end it, so that the next line stands on its own.
		unix.Write(fd, []byte{'\n'})
		return &fs.PathError{Op: "write", Path: path, Err: io.ErrShortWrite}
	}
	return nil
}

// sizeOf is the size of the log open as fd.
func sizeOf(fd int, path string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	return st.Size, nil
}

// rotate makes the current generation the old one, if it is still past
// MaxSize once the exclusive lock is held (another appender may have
// rotated meanwhile). No appender holds the log open while we rename it.
// Not fsynced, as nothing of the log is: after a crash either name is fine.
func rotate(dataDir string, lock int, lockPath string) error {
	if err := flock.LockFD(lock, flock.Exclusive); err != nil {
		return &fs.PathError{Op: "lock", Path: lockPath, Err: err}
	}
	defer flock.UnlockFD(lock)
	cur := filepath.Join(dataDir, LogFile)
	var st unix.Stat_t
	if err := unix.Stat(cur, &st); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return &fs.PathError{Op: "stat", Path: cur, Err: err}
	}
	if st.Size <= MaxSize {
		return nil
	}
	return os.Rename(cur, filepath.Join(dataDir, OldLogFile))
}

// Warnings is where Record and RecordForPod report an event they could not
// write. A variable so that tests can catch what is said.
var Warnings io.Writer = os.Stderr

// Record appends e to the log of dataDir and, if that fails, prints one
// warning line and goes on: an event is never worth failing a pod
// operation for.
func Record(dataDir string, e Event) {
	Warn(Append(dataDir, e))
}

// Warn says that an event could not be recorded, as Record does.
func Warn(err error) {
	if err != nil {
		fmt.Fprintf(Warnings, "podctl: warning: %v; the pod operation went on\n", err)
	}
}
