package progress

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// clock is a time the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func reporter(tty, quiet bool) (*Reporter, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1700000000, 0)}
	return &Reporter{w: &buf, tty: tty, quiet: quiet, now: c.now}, &buf, c
}

func TestTerminalBar(t *testing.T) {
	r, buf, c := reporter(true, false)
	it := r.Start("layer 1/2", 2<<20)
	it.Add(1 << 20)
	if buf.Len() != 0 {
		t.Fatalf("a bar before %s: %q", After, buf)
	}
	c.t = c.t.Add(time.Second)
	it.Add(512 << 10)
	if !strings.Contains(buf.String(), "\rlayer 1/2 [") || !strings.Contains(buf.String(), "1.5 MiB/2.0 MiB") {
		t.Fatalf("bar: %q", buf)
	}
	c.t = c.t.Add(time.Second)
	it.Add(512 << 10)
	it.Done(nil)
	if !strings.HasSuffix(buf.String(), "\x1b[K\n") || !strings.Contains(buf.String(), "2.0 MiB/2.0 MiB") {
		t.Fatalf("final line: %q", buf)
	}
}

func TestTerminalQuickCopyShowsNothing(t *testing.T) {
	r, buf, _ := reporter(true, false)
	it := r.Start("layer", 10)
	it.Add(10)
	it.Done(nil)
	if buf.Len() != 0 {
		t.Fatalf("a quick copy printed %q", buf)
	}
}

func TestPlainLines(t *testing.T) {
	r, buf, c := reporter(false, false)
	it := r.Start("layer 2/2", 0)
	io.Copy(io.Discard, it.Reader(strings.NewReader(strings.Repeat("x", 3000))))
	c.t = c.t.Add(1500 * time.Millisecond)
	it.Done(nil)
	if got, want := buf.String(), "layer 2/2: 2.9 KiB in 1.5s\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestQuietAndFailed(t *testing.T) {
	r, buf, c := reporter(true, true)
	it := r.Start("x", 1)
	c.t = c.t.Add(time.Second)
	it.Add(1)
	it.Done(nil)
	r2, buf2, c2 := reporter(false, false)
	it2 := r2.Start("y", 1)
	c2.t = c2.t.Add(time.Second)
	it2.Done(errors.New("boom"))
	if buf.Len() != 0 || buf2.Len() != 0 {
		t.Fatalf("quiet %q, failed %q", buf, buf2)
	}
}

// A nil Reporter (a caller that shows no progress) counts and says
// nothing, and its reader reads through.
func TestNilReporter(t *testing.T) {
	var r *Reporter
	it := r.Start("x", 3)
	b, err := io.ReadAll(it.Reader(strings.NewReader("abc")))
	if err != nil || string(b) != "abc" {
		t.Fatalf("read %q, %v", b, err)
	}
	it.Done(nil)
	it.Done(errors.New("failed"))
}
