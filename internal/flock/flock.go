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
	if err := flockFD(int(f.Fd()), how); err != nil {
		return &fs.PathError{Op: op, Path: f.Name(), Err: err}
	}
	return nil
}

// TryLockFD is TryLock of the file open as fd, for a caller that holds a
// raw descriptor (an *os.File costs an fcntl to make, which a walk of
// thousands of pods feels). The error is ErrLocked or the call's errno
// bare: the caller names the file.
func TryLockFD(fd int, kind Kind) error { return flockFD(fd, int(kind)|unix.LOCK_NB) }

// LockFD is Lock of the file open as fd; its error is bare, as
// TryLockFD's.
func LockFD(fd int, kind Kind) error { return flockFD(fd, int(kind)) }

// UnlockFD is Unlock of the file open as fd; its error is bare, as
// TryLockFD's.
func UnlockFD(fd int) error { return flockFD(fd, unix.LOCK_UN) }

func flockFD(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EWOULDBLOCK:
			return ErrLocked
		default:
			return err
		}
	}
}
