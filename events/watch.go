package events

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// watcher wakes Follow when a generation of the log changes: an inotify
// watch on the data directory, which reports writes to, truncations of,
// and renames and deletions of the files in it, so one watch sees the log
// grow, rotate, be replaced and be made for the first time.
type watcher struct {
	f *os.File
	// wake gets a value when the log may have changed; it holds at most
	// one, as one look catches up with any number of changes.
	wake chan struct{}
	// failed is closed if reading the inotify descriptor fails (its queue
	// overflowing is not a failure: that wakes too).
	failed chan struct{}
}

// watchMask is what changes a generation: a write or truncation (the
// kernel reports a truncation as a modification), a file made, renamed or
// removed under the log's names.
const watchMask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// watchLog watches dataDir, or returns an error when inotify cannot (no
// instance or watch left under the user's limits, a data directory that
// does not exist yet): Follow then polls.
func watchLog(dataDir string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, dataDir, watchMask); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so the runtime's poller waits on it and Close ends a
	// Read in progress.
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), wake: make(chan struct{}, 1), failed: make(chan struct{})}
	go w.run()
	return w, nil
}

func (w *watcher) run() {
	var buf [4096]byte
	for {
		n, err := w.f.Read(buf[:])
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				close(w.failed)
			}
			return
		}
		if concernsLog(buf[:n]) {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// concernsLog reports whether a batch of inotify events read from the
// descriptor names a generation of the log, or is one without a name (the
// directory itself moved or removed, the queue overflowed), after which
// Follow must look.
func concernsLog(b []byte) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then len bytes of
		// name padded with NULs.
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:16]))
		if end > len(b) {
			return true
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(name) == 0 || string(name) == LogFile || string(name) == OldLogFile {
			return true
		}
		b = b[end:]
	}
	return false
}

func (w *watcher) close() {
	if w != nil {
		w.f.Close()
	}
}
