// Package progress shows how far long copies have come (pulls, imports,
// exports): on a terminal, a bar per item redrawn in place once the copy
// has taken more than a moment; elsewhere, one plain line per item when it
// is done; with quiet, nothing.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// After is how long a copy runs before its bar appears: a copy that ends
// sooner shows none.
const After = 500 * time.Millisecond

// redraw is the least time between two drawings of a bar.
const redraw = 100 * time.Millisecond

// Reporter reports the items copied to one stream.
type Reporter struct {
	w     io.Writer
	tty   bool
	quiet bool
	now   func() time.Time
	mu    sync.Mutex
}

// New reports to f: bars if f is a terminal, lines otherwise, nothing if
// quiet.
func New(f *os.File, quiet bool) *Reporter {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return &Reporter{w: f, tty: err == nil, quiet: quiet, now: time.Now}
}

// Item is one copy being reported.
type Item struct {
	r       *Reporter
	name    string
	total   int64
	done    int64
	start   time.Time
	drawn   time.Time
	showing bool
}

// Start begins reporting the copy of name, of total bytes (0 if unknown).
// A nil Reporter reports nothing.
func (r *Reporter) Start(name string, total int64) *Item {
	if r == nil {
		return &Item{}
	}
	return &Item{r: r, name: name, total: total, start: r.now()}
}

// Reader counts what is read through rd as copied.
func (it *Item) Reader(rd io.Reader) io.Reader { return &counting{rd, it} }

type counting struct {
	rd io.Reader
	it *Item
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.rd.Read(p)
	c.it.Add(int64(n))
	return n, err
}

// Add counts n more bytes copied.
func (it *Item) Add(n int64) {
	it.done += n
	r := it.r
	if r == nil || r.quiet || !r.tty {
		return
	}
	now := r.now()
	if now.Sub(it.start) < After || now.Sub(it.drawn) < redraw {
		return
	}
	it.drawn, it.showing = now, true
	r.mu.Lock()
	fmt.Fprintf(r.w, "\r%s\x1b[K", it.line(now))
	r.mu.Unlock()
}

// Done ends the item: its bar becomes its final line, or, off a terminal,
// its one line is written. A failed copy (err) says nothing: its error
// will.
func (it *Item) Done(err error) {
	r := it.r
	if r == nil {
		return
	}
	if r.quiet || err != nil {
		if it.showing {
			r.mu.Lock()
			fmt.Fprint(r.w, "\r\x1b[K")
			r.mu.Unlock()
		}
		return
	}
	now := r.now()
	if r.tty && !it.showing {
		// Quick: no bar was shown, and no line is worth it.
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tty {
		fmt.Fprintf(r.w, "\r%s\x1b[K\n", it.line(now))
		return
	}
	fmt.Fprintf(r.w, "%s: %s in %s\n", it.name, size(it.done), now.Sub(it.start).Round(time.Millisecond))
}

// line is the item's bar: name, bar (when the total is known), bytes and
// rate.
func (it *Item) line(now time.Time) string {
	rate := ""
	if d := now.Sub(it.start).Seconds(); d > 0 {
		rate = " " + size(int64(float64(it.done)/d)) + "/s"
	}
	if it.total <= 0 {
		return fmt.Sprintf("%s %s%s", it.name, size(it.done), rate)
	}
	const width = 30
	filled := int(min(it.done, it.total) * width / it.total)
	return fmt.Sprintf("%s [%s%s] %s/%s%s", it.name, strings.Repeat("#", filled), strings.Repeat(" ", width-filled), size(it.done), size(it.total), rate)
}

// size is n bytes for people: B, KiB, MiB or GiB with one decimal.
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
