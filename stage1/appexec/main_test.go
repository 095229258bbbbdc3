package appexec

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestSpecReader reads what an init writes to the spec pipe, whole or a
// byte at a time: the line, then the word to go or the pipe's end.
func TestSpecReader(t *testing.T) {
	for _, c := range []struct {
		in         string
		line       string // "" with noLine: the pipe was closed empty
		noLine     bool
		lineErr    bool
		gone, fail bool
	}{
		{in: "", noLine: true},
		{in: `{"name":"a"}` + "\n", line: `{"name":"a"}`, gone: true},
		{in: `{"name":"a"}` + "\ng", line: `{"name":"a"}`},
		{in: `{"name":"a"}` + "\ngg", line: `{"name":"a"}`},
		{in: `{"name":"a"}` + "\nx", line: `{"name":"a"}`, fail: true},
		{in: `{"name":"a"}`, lineErr: true},
		{in: strings.Repeat("x", 100) + "\ng", lineErr: true},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			sr := &specReader{r: r}
			line, err := sr.line(64)
			if c.lineErr {
				if err == nil {
					t.Errorf("%q: line %q, want an error", c.in, line)
				}
				continue
			}
			if err != nil {
				t.Errorf("%q: %v", c.in, err)
				continue
			}
			if c.noLine {
				if line != nil {
					t.Errorf("%q: line %q, want none", c.in, line)
				}
				continue
			}
			if string(line) != c.line {
				t.Errorf("%q: line %q, want %q", c.in, line, c.line)
			}
			gone, err := sr.awaitGo()
			if (err != nil) != c.fail || gone != c.gone {
				t.Errorf("%q (one byte at a time %v): gone %v, error %v; want gone %v, failure %v", c.in, oneByte, gone, err, c.gone, c.fail)
			}
		}
	}
}

// FuzzSpecReader: whatever comes down the pipe, the reader returns the
// bytes before the first newline, and goes only when the go byte follows
// it.
func FuzzSpecReader(f *testing.F) {
	f.Add([]byte("{}\ng"), false)
	f.Add([]byte("{}\n"), true)
	f.Add([]byte(""), false)
	f.Fuzz(func(t *testing.T, in []byte, oneByte bool) {
		var r io.Reader = bytes.NewReader(in)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		sr := &specReader{r: r}
		line, err := sr.line(1 << 10)
		i := bytes.IndexByte(in, '\n')
		if err != nil || line == nil {
			if i >= 0 && i <= 1<<10 {
				t.Fatalf("%q: no line (%v)", in, err)
			}
			return
		}
		if i < 0 || !bytes.Equal(line, in[:i]) {
			t.Fatalf("%q: line %q", in, line)
		}
		gone, err := sr.awaitGo()
		rest := in[i+1:]
		switch {
		case len(rest) == 0 && (!gone || err != nil):
			t.Fatalf("%q: gone %v, error %v after a bare line", in, gone, err)
		case len(rest) > 0 && rest[0] == GoByte && (gone || err != nil):
			t.Fatalf("%q: gone %v, error %v with the go byte", in, gone, err)
		case len(rest) > 0 && rest[0] != GoByte && err == nil:
			t.Fatalf("%q: went on %q after the line", in, rest)
		}
	})
}

// The helper goes on only when the init's last argument is its Protocol.
func TestCheckProtocol(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{Protocol}, true},
		{[]string{"podctl", Protocol}, true},
		{nil, false},
		{[]string{Protocol, "x"}, false},
		{[]string{"podctl-exec-protocol/1"}, false},
	} {
		if err := checkProtocol(c.args); (err == nil) != c.ok {
			t.Errorf("checkProtocol(%q) = %v, want ok %v", c.args, err, c.ok)
		}
	}
}
