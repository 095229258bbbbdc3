// Package flock wraps flock(2) on an open file: the one lock primitive that
// podctl's pods and image store are built on.
//
// An flock belongs to the open file description, so it follows the file
// across renames and across fork and exec, and the kernel drops it when the
// last descriptor is closed, whatever killed the holder. That is what lets a
// pod's state be "its folder plus whether its lock is held".
package flock

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by the Try functions when another open file
// description holds a conflicting lock.
var ErrLocked = errors.New("locked by another process")

// Kind is the kind of lock to take.
type Kind int

const (
	// Shared may be held by many at once.
	Shared Kind = unix.LOCK_SH
	// Exclusive is held by one holder, with no shared holders.
	Exclusive Kind = unix.LOCK_EX
)

// Lock takes a lock of the given kind on f, waiting for it.
func Lock(f *os.File, kind Kind) error {
	return flock(f, int(kind), "lock")
}

// TryLock takes a lock of the given kind on f without waiting. It returns an
// error wrapping ErrLocked if a conflicting lock is held.
func TryLock(f *os.File, kind Kind) error {
	return flock(f, int(kind)|unix.LOCK_NB, "trylock")
}

// Unlock releases the lock held on f.
func Unlock(f *os.File) error {
	return flock(f, unix.LOCK_UN, "unlock")
}

func flock(f *os.File, how int, op string) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EWOULDBLOCK:
			return &fs.PathError{Op: op, Path: f.Name(), Err: ErrLocked}
		default:
			return &fs.PathError{Op: op, Path: f.Name(), Err: err}
		}
	}
}
