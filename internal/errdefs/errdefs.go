// Package errdefs gives podctl's errors a class (not found, invalid, busy)
// that callers test with errors.Is, without the class's name showing in
// the message the user reads.
package errdefs

import (
	"errors"
	"fmt"
)

// The classes of error.
var (
	// ErrNotFound: what was asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request itself is wrong.
	ErrInvalid = errors.New("invalid request")
	// ErrBusy: someone else holds what was asked for.
	ErrBusy = errors.New("busy")
	// ErrTimeout: the time given to wait for something ran out.
	ErrTimeout = errors.New("timed out")
)

type classed struct {
	class error
	err   error
}

func (e *classed) Error() string        { return e.err.Error() }
func (e *classed) Unwrap() []error      { return []error{e.class, e.err} }
func (e *classed) Is(target error) bool { return target == e.class }

// New returns an error of the given class whose message is the formatted
// text. %w in format wraps as fmt.Errorf does.
func New(class error, format string, args ...any) error {
	return &classed{class: class, err: fmt.Errorf(format, args...)}
}
