package store

import (
	"fmt"
	"os"
)

// tempFile is a file written under a temporary name before it is renamed
// into place (or handed on): discard, deferred, closes and removes it
// unless keep was called.
type tempFile struct {
	*os.File
	kept bool
}

// createTemp creates a temporary file in dir, named after pattern
// (os.CreateTemp); what names it in errors.
func createTemp(dir, pattern, what string) (*tempFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", what, err)
	}
	return &tempFile{File: f}, nil
}

// keep says that the file is in place, or someone else's now.
func (t *tempFile) keep() { t.kept = true }

// discard closes and removes the file, unless it was kept.
func (t *tempFile) discard() {
	if !t.kept {
		t.Close()
		os.Remove(t.Name())
	}
}
