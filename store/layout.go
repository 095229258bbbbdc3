package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
	"podctl/internal/layout"
)

const (
	// FileLayout, in the store's folder, records its layout version.
	FileLayout = "layout"
	// LayoutVersion is the store layout this podctl writes, and the
	// newest it reads. Version 1 is the layout of stores made before
	// versions were recorded.
	LayoutVersion = 1
)

// checkLayout refuses a store whose layout this podctl does not know. It
// reports fresh when the store has neither a layout file nor an index: a
// store being made, whose layout Open records.
func (s *Store) checkLayout() (fresh bool, err error) {
	subject := "image store " + s.dir
	if _, err := layout.Load(unix.AT_FDCWD, s.layoutPath(), subject, s.layoutPath(), LayoutVersion); err != nil {
		return false, err
	}
	if _, err := os.Lstat(s.layoutPath()); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("opening image store: %w", err)
	}
	switch _, err := os.Lstat(s.indexPath()); {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("opening image store: %w", err)
	}
	// Made before layout versions: version 1, left without the file.
	return false, nil
}

// writeLayout records the layout of a store being made, durably, before
// its index exists.
func (s *Store) writeLayout() error {
	return fsutil.WriteFile(s.layoutPath(), layout.New(LayoutVersion).Marshal(), 0o600, true)
}
