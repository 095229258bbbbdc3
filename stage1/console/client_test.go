package console

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCopyInputDetachKeys(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		detached bool
	}{
		{"hello\r", "hello\r", false},
		{"ab\x10\x11cd", "ab", true},
		{"\x10x\x10\x10\x11", "\x10x\x10", true},
		{"a\x10", "a", false},
		{"\x11\x10q", "\x11\x10q", false},
	} {
		var got bytes.Buffer
		// One byte a read, so that the keys fall across reads too.
		err := copyInput(&got, iotest.OneByteReader(strings.NewReader(tc.in)))
		if tc.detached != errors.Is(err, ErrDetached) || (!tc.detached && err != nil) {
			t.Errorf("copyInput(%q): error %v, want detached=%v", tc.in, err, tc.detached)
		}
		if got.String() != tc.want {
			t.Errorf("copyInput(%q) passed on %q, want %q", tc.in, got.String(), tc.want)
		}
		got.Reset()
		err = copyInput(&got, strings.NewReader(tc.in))
		if tc.detached != errors.Is(err, ErrDetached) || got.String() != tc.want {
			t.Errorf("copyInput(%q) in one read: %q, %v", tc.in, got.String(), err)
		}
	}
}
