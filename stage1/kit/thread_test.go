package kit

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestOnOwnThread checks that fn runs on another thread than a first
// thread the runtime put its goroutine on, and on the goroutine's own
// otherwise.
func TestOnOwnThread(t *testing.T) {
	for _, first := range []bool{true, false} {
		var outer, inner int
		onOwnThread(func() { inner = unix.Gettid() }, func() bool {
			outer = unix.Gettid()
			return first
		})
		if (inner == outer) == first {
			t.Errorf("on a first thread %v: fn ran on %d, the goroutine on %d", first, inner, outer)
		}
	}
}
