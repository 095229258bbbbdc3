package events

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/flock"
)

// An Appender appends the events of one command that records many (gc
// marks thousands of pods), following Append's protocol but keeping the
// lock file, its shared lock and the log open from one event to the
// next: an event then costs a write(2) instead of seven calls. Each event is written whole when it is appended, as with
// Append, so that a reader sees the events in the order they happened
// and a command killed half way loses none it reported. While the lock
// is held no rotation can happen (a rotator waits for the exclusive
// lock), so it is released after appenderLines events or appenderHold,
// whichever comes first, whenever the log passes MaxSize, and by Close:
// another process's rotation waits no longer than that, or than the
// work its holder does between two events. A process holding an
// Appender must record its events through it alone: an Append of its
// own that rotated would wait for the Appender's lock. Safe for use by
// several goroutines.
type Appender struct {
	dataDir string
	mu      sync.Mutex
	// lock and log are open, the lock shared, while lines is above 0;
	// since is when the lock was taken. size is the log's size when it
	// was opened and what this Appender has written to it since: what
	// other processes append meanwhile is counted from the next taking of
	// the lock, so that a rotation may come that much late.
	lock, log int
	lines     int
	since     time.Time
	size      int64
}

// appenderLines bounds how many events an Appender writes under one
// taking of the lock.
const appenderLines = 64

// appenderHold bounds how long an Appender keeps the lock it took, checked
// at each event. A variable so that tests can raise it.
var appenderHold = 20 * time.Millisecond

// NewAppender returns an Appender to the event log of the data directory
// dataDir, which must exist. Close releases what it holds.
func NewAppender(dataDir string) *Appender {
	return &Appender{dataDir: dataDir, lock: -1, log: -1}
}

// Append adds e to the log, as the package's Append does.
func (a *Appender) Append(e Event) error {
	line, err := encodeLine(&e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lines == 0 {
		if err := a.open(); err != nil {
			return fmt.Errorf("recording %s event of pod %s: %w", e.Type, e.Pod, err)
		}
	}
	a.lines++
	if err := writeLine(a.log, filepath.Join(a.dataDir, LogFile), line); err != nil {
		unix.Close(a.release())
		return fmt.Errorf("recording %s event of pod %s: %w", e.Type, e.Pod, err)
	}
	a.size += int64(len(line))
	size := a.size
	if size <= MaxSize && a.lines < appenderLines && time.Since(a.since) < appenderHold {
		return nil
	}
	lock := a.release()
	defer unix.Close(lock)
	if size > MaxSize {
		// As Append does: the shared lock released, rotate takes the
		// exclusive one on the same descriptor.
		if err := flock.UnlockFD(lock); err != nil {
			return fmt.Errorf("rotating the event log: %w", err)
		}
		if err := rotate(a.dataDir, lock, filepath.Join(a.dataDir, LockFile)); err != nil {
			return fmt.Errorf("rotating the event log: %w", err)
		}
	}
	return nil
}

// open opens the lock file, takes its shared lock and opens the log.
func (a *Appender) open() error {
	lockPath := filepath.Join(a.dataDir, LockFile)
	lock, err := unix.Open(lockPath, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "open", Path: lockPath, Err: err}
	}
	if err := flock.LockFD(lock, flock.Shared); err != nil {
		unix.Close(lock)
		return &fs.PathError{Op: "lock", Path: lockPath, Err: err}
	}
	path := filepath.Join(a.dataDir, LogFile)
	log, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		// Closing the descriptor releases its lock.
		unix.Close(lock)
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	size, err := sizeOf(log, path)
	if err != nil {
		unix.Close(log)
		unix.Close(lock)
		return err
	}
	a.lock, a.log, a.since, a.size = lock, log, time.Now(), size
	return nil
}

// release closes the log and returns the lock file's descriptor, its
// shared lock still held, for the caller to close (which releases it).
func (a *Appender) release() (lock int) {
	unix.Close(a.log)
	lock = a.lock
	a.lock, a.log, a.lines = -1, -1, 0
	return lock
}

// Close releases the lock and closes the log. The Appender can append
// again afterwards.
func (a *Appender) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lines == 0 {
		return nil
	}
	// Closing the lock file's descriptor releases its lock.
	if err := unix.Close(a.release()); err != nil {
		return fmt.Errorf("closing the event log's lock: %w", err)
	}
	return nil
}
