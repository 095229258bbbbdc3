package resident

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// written lives in the binary's writable data, which Shed must keep.
var written = []int{1, 2, 3}

// binaryPages counts the pages of the process's read-only mappings of its
// own binary that its page tables map, from /proc/self/pagemap (bit 63 of
// each page's entry: present). The mappings are found before it is
// called, the count is one read, so that the counting itself brings few
// pages back.
type binaryPages struct {
	pagemap *os.File
	ranges  []mapping
	buf     []byte
}

func newBinaryPages(t *testing.T) *binaryPages {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	p := &binaryPages{}
	size := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		if m, ok := parseMapping(line); ok && m.ino == st.Ino && m.dev == st.Dev && m.readOnlyPrivate() {
			p.ranges = append(p.ranges, m)
			size = max(size, int(m.end-m.start)/os.Getpagesize()*8)
		}
	}
	if len(p.ranges) == 0 {
		t.Fatal("no read-only mapping of the test binary found: the mappings were not recognised")
	}
	p.buf = make([]byte, size)
	if p.pagemap, err = os.Open("/proc/self/pagemap"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.pagemap.Close() })
	return p
}

func (p *binaryPages) count(t *testing.T) int {
	t.Helper()
	n := 0
	for _, m := range p.ranges {
		pages := int(m.end-m.start) / os.Getpagesize()
		b := p.buf[:pages*8]
		if _, err := p.pagemap.ReadAt(b, int64(m.start)/int64(os.Getpagesize())*8); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < pages; i++ {
			if binary.LittleEndian.Uint64(b[i*8:])&(1<<63) != 0 {
				n++
			}
		}
	}
	return n
}

func TestShed(t *testing.T) {
	written[1] = 20
	p := newBinaryPages(t)
	// Code that runs once, as a process's start does.
	if _, err := json.Marshal(map[string]any{"a": []int{1}, "b": time.Now()}); err != nil {
		t.Fatal(err)
	}
	regexp.MustCompile(`^[a-z]+(-[0-9]+)?$`).MatchString(fmt.Sprint(t.Name()))
	before := p.count(t)
	if err := Shed(); err != nil {
		t.Fatal(err)
	}
	after := p.count(t)
	// What runs after the madvise, Shed's own end and the count, brings
	// pages back, and each fault maps the 16 around it: a third to a half
	// of the pages come back here (255 to 319 of 687 to 751). Without
	// Shed, none would go.
	t.Logf("pages of the binary mapped: %d before Shed, %d after", before, after)
	if after*4 > before*3 {
		t.Errorf("Shed kept %d of the binary's %d mapped pages", after, before)
	}
	if written[0] != 1 || written[1] != 20 || written[2] != 3 {
		t.Errorf("Shed lost the binary's writable data: %v", written)
	}
}

func TestShedAgainNeedsSettle(t *testing.T) {
	if settled.Load() {
		t.Fatal("settled before any Settle")
	}
	p := newBinaryPages(t)
	before := p.count(t)
	if err := ShedAgain(); err != nil {
		t.Fatal(err)
	}
	if after := p.count(t); after*5 <= before*4 {
		t.Errorf("ShedAgain shed an unsettled process: %d pages mapped before, %d after", before, after)
	}
}

func TestParseMapping(t *testing.T) {
	for _, c := range []struct {
		line string
		ok   bool
		want mapping
	}{
		{"00400000-007c8000 r-xp 00000000 fe:00 10308161                           /work/main/bin/podctl", true,
			mapping{start: 0x400000, end: 0x7c8000, perms: "r-xp", dev: unix.Mkdev(0xfe, 0), ino: 10308161}},
		{"7ffd2e251000-7ffd2e272000 rw-p 00000000 00:00 0                          [stack]", true,
			mapping{start: 0x7ffd2e251000, end: 0x7ffd2e272000, perms: "rw-p", dev: 0, ino: 0}},
		{"00bd3000-02c0e000 rw-p 00000000 00:00 0", true,
			mapping{start: 0xbd3000, end: 0x2c0e000, perms: "rw-p"}},
		{"Rss:                4648 kB", false, mapping{}},
		{"zz-007c8000 r-xp 00000000 fe:00 1 /x", false, mapping{}},
		{"007c8000-00400000 r-xp 00000000 fe:00 1 /x", false, mapping{}},
		{"00400000-007c8000 r-xp 00000000 fe00 1 /x", false, mapping{}},
	} {
		m, ok := parseMapping([]byte(c.line))
		if ok != c.ok || m != c.want {
			t.Errorf("parseMapping(%q) = %+v, %v; want %+v, %v", c.line, m, ok, c.want, c.ok)
		}
	}
	if !(mapping{perms: "r-xp"}).readOnlyPrivate() || !(mapping{perms: "r--p"}).readOnlyPrivate() ||
		(mapping{perms: "rw-p"}).readOnlyPrivate() || (mapping{perms: "r--s"}).readOnlyPrivate() {
		t.Error("readOnlyPrivate is wrong")
	}
}

// A settled process's ShedAgain forces a collection only once the bursts
// since the last have allocated shedHeapEvery, and drops the binary's
// pages every time.
func TestShedAgainCollectsEveryFewBursts(t *testing.T) {
	settled.Store(true)
	defer settled.Store(false)
	if err := Shed(); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs := ms.NumForcedGC
	keep = make([]byte, shedHeapEvery/4)
	if err := ShedAgain(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	if ms.NumForcedGC != gcs {
		t.Errorf("ShedAgain forced a collection after %d bytes, fewer than %d", shedHeapEvery/4, shedHeapEvery)
	}
	keep = make([]byte, shedHeapEvery)
	if err := ShedAgain(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	if ms.NumForcedGC == gcs {
		t.Errorf("ShedAgain forced no collection after %d bytes", shedHeapEvery)
	}
}

// keep holds an allocation, so that the compiler keeps it.
var keep []byte
