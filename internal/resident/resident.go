// Package resident gives back to the kernel the memory a long-lived podctl
// process used only to start: the pages of its binary it ran or read then,
// and the heap it has freed since.
package resident

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// gcPercent is the garbage collector's target once settled: a settled
// process allocates a few kilobytes a sample, and with the default its heap
// would grow to 4 MiB between collections.
const gcPercent = 20

var settled atomic.Bool

// Settle says that the process, a pod's stage1 or its init, now only waits
// for its pod, for as long as the pod runs: it collects its garbage more
// often from now on, and sheds (Shed) what it used to start. A process
// calls it once its start's work is all done, as any code run after it
// brings its pages back. A failure to shed costs memory, not correctness.
func Settle() error {
	debug.SetGCPercent(gcPercent)
	settled.Store(true)
	return Shed()
}

// ShedAgain sheds what a settled process used for a burst of work, such
// as a usage sample, once it is done: the pages of its binary that the
// work brought back, and, once the bursts since the last time have
// allocated shedHeapEvery, the heap they freed. Not after every burst: a
// forced collection costs a usage sample three times its own work (the
// runtime waits for the sweep by yielding in a loop). In a process that
// has not settled it does nothing.
func ShedAgain() error {
	if !settled.Load() {
		return nil
	}
	if n := allocated(); n >= heapShed.Load()+shedHeapEvery {
		debug.FreeOSMemory()
		heapShed.Store(n)
	}
	return dropBinary()
}

// shedHeapEvery is how much a settled process allocates between two
// collections that ShedAgain forces: about ten usage samples.
const shedHeapEvery = 256 << 10

// heapShed is allocated() when the heap was last given back.
var heapShed atomic.Uint64

// allocated is how many bytes of heap the process has allocated so far.
// runtime.ReadMemStats stops the world for a few microseconds, in a
// process that has little left to stop; runtime/metrics, which would not,
// costs every podctl process 0.1 ms of package initialisation, on every
// pod's start.
func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// Shed returns the freed heap to the kernel and drops the process's
// mappings of its own binary's read-only pages (code, read-only data), so
// that what stays resident is what the process still uses: a page it
// touches again comes back from the page cache at a minor fault. Only
// private mappings that are not writable are dropped: MADV_DONTNEED loses
// nothing of them, their pages being the file's.
func Shed() error {
	debug.FreeOSMemory()
	heapShed.Store(allocated())
	return dropBinary()
}

// binaryRanges are the read-only private mappings of the process's own
// binary, found once in /proc/self/maps: they do not move.
var binaryRanges = sync.OnceValues(findBinaryRanges)

// dropBinary drops the process's mappings of its binary's read-only
// pages (Shed).
func dropBinary() error {
	ranges, err := binaryRanges()
	if err != nil {
		return err
	}
	for _, m := range ranges {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
		if errno != 0 {
			return fmt.Errorf("shed start-up pages %x-%x: %w", m.start, m.end, errno)
		}
	}
	return nil
}

// findBinaryRanges reads the read-only private mappings of the process's
// own binary from /proc/self/maps.
func findBinaryRanges() ([]mapping, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return nil, fmt.Errorf("shed start-up pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("shed start-up pages: %w", err)
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, ok := parseMapping(sc.Bytes())
		if ok && m.ino == st.Ino && m.dev == st.Dev && m.readOnlyPrivate() {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("shed start-up pages: %w", err)
	}
	return out, nil
}

// mapping is a line of /proc/self/maps.
type mapping struct {
	start, end uintptr
	perms      string
	dev, ino   uint64
}

func (m mapping) readOnlyPrivate() bool {
	return len(m.perms) == 4 && m.perms[1] == '-' && m.perms[3] == 'p'
}

// parseMapping parses a line of /proc/self/maps: "start-end perms offset
// major:minor inode [path]".
func parseMapping(line []byte) (mapping, bool) {
	var m mapping
	f := bytes.Fields(line)
	if len(f) < 5 {
		return m, false
	}
	addr := bytes.SplitN(f[0], []byte("-"), 2)
	dev := bytes.SplitN(f[3], []byte(":"), 2)
	if len(addr) != 2 || len(dev) != 2 {
		return m, false
	}
	start, err1 := strconv.ParseUint(string(addr[0]), 16, 64)
	end, err2 := strconv.ParseUint(string(addr[1]), 16, 64)
	major, err3 := strconv.ParseUint(string(dev[0]), 16, 32)
	minor, err4 := strconv.ParseUint(string(dev[1]), 16, 32)
	ino, err5 := strconv.ParseUint(string(f[4]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || end <= start {
		return m, false
	}
	m = mapping{start: uintptr(start), end: uintptr(end), perms: string(f[1]),
		dev: unix.Mkdev(uint32(major), uint32(minor)), ino: ino}
	return m, true
}
