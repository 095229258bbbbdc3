package store

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"podctl/internal/flock"
)

// LockShared takes the store lock shared, waiting for an exclusive holder
// (image rm or gc) to finish. stage0 holds it while it prepares a pod, from
// resolving the images until the pod records the trees it uses, so that no
// image gc removes them in between. While it is held, this Store's methods
// do not take the lock again.
func (s *Store) LockShared() (unlock func() error, err error) {
	return s.lockCounted(flock.Shared, &s.shared)
}

// LockExclusive takes the store lock exclusive, waiting for every shared
// holder to finish. image gc holds it while it works out which images pods
// use and collects the rest. While it is held, this Store's methods do not
// take the lock again.
func (s *Store) LockExclusive() (unlock func() error, err error) {
	return s.lockCounted(flock.Exclusive, &s.exclusive)
}

func (s *Store) lockCounted(kind flock.Kind, count *int) (func() error, error) {
	f, err := flockFile(s.lockPath(), kind, true)
	if err != nil {
		return nil, fmt.Errorf("locking image store: %w", err)
	}
	s.mu.Lock()
	*count++
	s.mu.Unlock()
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			s.mu.Lock()
			*count--
			s.mu.Unlock()
			uerr = f.Close() // closing the only descriptor releases the flock
		})
		return uerr
	}, nil
}

// hold takes the lock an operation needs for its own duration, unless this
// Store already holds one through LockShared or LockExclusive. An operation
// that needs the exclusive lock while the Store holds only the shared one
// fails rather than deadlock against its own caller.
func (s *Store) hold(exclusive bool) (func() error, error) {
	s.mu.Lock()
	shared, excl := s.shared, s.exclusive
	s.mu.Unlock()
	noop := func() error { return nil }
	switch {
	case excl > 0:
		return noop, nil
	case exclusive && shared > 0:
		return nil, errors.New("the caller holds the image store's shared lock, and this needs the exclusive one")
	case shared > 0:
		return noop, nil
	}
	kind := flock.Shared
	if exclusive {
		kind = flock.Exclusive
	}
	f, err := flockFile(s.lockPath(), kind, true)
	if err != nil {
		return nil, fmt.Errorf("locking image store: %w", err)
	}
	return f.Close, nil
}

// flockFile opens path (creating it) and takes a flock of the given kind,
// waiting for it or not. Closing the file unlocks it.
func flockFile(path string, kind flock.Kind, wait bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if wait {
		err = flock.Lock(f, kind)
	} else {
		err = flock.TryLock(f, kind)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
