package console

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzCopyInput: what is typed reaches the console less the detach keys,
// and copying stops at them.
func FuzzCopyInput(f *testing.F) {
	f.Add([]byte("hello\r"))
	f.Add([]byte("a\x10\x11b"))
	f.Add([]byte("\x10\x10\x10q"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		err := copyInput(&out, bytes.NewReader(in))
		if err != nil && !errors.Is(err, ErrDetached) {
			t.Fatal(err)
		}
		detached := errors.Is(err, ErrDetached)
		if detached != bytes.Contains(in, []byte{ctrlP, ctrlQ}) {
			t.Fatalf("copyInput(%q): detached %v", in, detached)
		}
		// A Ctrl-P at the very end waits for its next key, which never came.
		if !detached && !bytes.Equal(out.Bytes(), bytes.TrimSuffix(in, []byte{ctrlP})) {
			t.Fatalf("copyInput(%q) passed on %q", in, out.Bytes())
		}
	})
}
