package console

import (
	"bytes"
	"errors"
	"strings"
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

// FuzzParseHeader: a header that parses is one that prints back the same.
func FuzzParseHeader(f *testing.F) {
	f.Add("attach 24 80")
	f.Add("resize 0 0")
	f.Add("attach 65536 1")
	f.Fuzz(func(t *testing.T, line string) {
		h, err := parseHeader(line)
		if err != nil {
			return
		}
		if got := h.String(); got != line+"\n" && !strings.Contains(line, " 0") {
			t.Fatalf("parseHeader(%q) = %+v, which says %q", line, h, got)
		}
	})
}

func TestParseHeader(t *testing.T) {
	for line, ok := range map[string]bool{
		"attach 24 80": true, "resize 0 0": true, "attach 65535 65535": true,
		"attach 65536 1": false, "attach -1 2": false, "attach +1 2": false, "attach 1": false,
		"detach 1 2": false, "attach 1 2 3": false, "attach  1 2": false, "attach 0x1 2": false, "": false,
	} {
		if _, err := parseHeader(line); (err == nil) != ok {
			t.Errorf("parseHeader(%q): %v, want ok=%v", line, err, ok)
		}
	}
}
