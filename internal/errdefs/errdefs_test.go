package errdefs

import (
	"errors"
	"io/fs"
	"testing"
)

func TestClassAndMessage(t *testing.T) {
	err := New(ErrBusy, "pod %s is running: %w", "x", fs.ErrExist)
	if err.Error() != "pod x is running: file already exists" {
		t.Fatalf("message %q", err)
	}
	if !errors.Is(err, ErrBusy) || !errors.Is(err, fs.ErrExist) || errors.Is(err, ErrInvalid) {
		t.Fatalf("classes wrong: %v", err)
	}
}
