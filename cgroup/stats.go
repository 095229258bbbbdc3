package cgroup

// Reading what a cgroup's processes use. Each measure has a file in the
// unified hierarchy and one in a v1 hierarchy; a group's folders are tried
// in order and the first that has the file gives the measure:
//
//	measure        unified (v2)                 v1
//	CPU time       cpu.stat usage_usec          cpuacct.usage (ns)
//	memory         memory.current               memory.usage_in_bytes
//	memory limit   memory.max ("max": none)     memory.limit_in_bytes (huge: none)
//	pids           pids.current                 pids.current
//	block I/O      io.stat rbytes= wbytes=      blkio.throttle.io_service_bytes_recursive,
//	                                            else blkio.io_service_bytes_recursive
//
// Every one of them counts the folder and everything below it. A file that
// is missing or cannot be parsed leaves its measure unknown: stats never
// fail for what a host lacks.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Has is a set of the measures a Usage holds.
type Has uint8

// The measures of a Usage.
const (
	HasCPU Has = 1 << iota
	HasMemory
	HasMemoryLimit
	HasPids
	HasIO
)

var hasNames = []struct {
	bit  Has
	name string
}{{HasCPU, "cpu"}, {HasMemory, "memory"}, {HasMemoryLimit, "memory_limit"}, {HasPids, "pids"}, {HasIO, "io"}}

// MarshalJSON writes the set as a list of names, such as ["cpu","memory"].
func (h Has) MarshalJSON() ([]byte, error) {
	names := []string{}
	for _, n := range hasNames {
		if h&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return json.Marshal(names)
}

// UnmarshalJSON reads a list of names; unknown ones are ignored, so that
// a newer podctl's records stay readable.
func (h *Has) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	*h = 0
	for _, name := range names {
		for _, n := range hasNames {
			if n.name == name {
				*h |= n.bit
			}
		}
	}
	return nil
}

// Usage is what the processes of a cgroup (and of the cgroups below it)
// use at one time. A measure not in Has is unknown, not zero.
type Usage struct {
	// CPUNanos is the CPU time used since the cgroup was made.
	CPUNanos uint64 `json:"cpu_nanos"`
	// MemoryBytes is the memory charged to the cgroup now (page cache
	// and shared memory included).
	MemoryBytes uint64 `json:"memory_bytes"`
	// MemoryLimitBytes is the cgroup's own memory limit; HasMemoryLimit
	// is unset when it has none.
	MemoryLimitBytes uint64 `json:"memory_limit_bytes"`
	// Pids is the number of processes and threads.
	Pids uint64 `json:"pids"`
	// ReadBytes and WriteBytes are the bytes read from and written to
	// block devices since the cgroup was made.
	ReadBytes  uint64 `json:"io_read_bytes"`
	WriteBytes uint64 `json:"io_write_bytes"`
	// Has lists the measures found.
	Has Has `json:"has"`
}

// noLimit is the least value a v1 limit file holds when there is no limit
// (the kernel writes the largest page count times the page size).
const noLimit = 1 << 62

// measure is how one measure of a Usage is read: the files that may hold
// it, in the order tried in each folder, and how each sets it. Reading a
// file that exists decides the measure, whatever it says: a limit file
// that says "none" ends the looking, and set then says the measure is not
// held.
type measure struct {
	has   Has
	files []string
	set   func(u *Usage, file string, r io.Reader) (held bool, err error)
}

// value sets *dst from a file of one number.
func value(dst func(*Usage) *uint64) func(*Usage, string, io.Reader) (bool, error) {
	return func(u *Usage, _ string, r io.Reader) (bool, error) {
		v, err := ParseValue(r)
		*dst(u) = v
		return true, err
	}
}

// measures are every measure ReadUsage reads.
var measures = []measure{
	{HasCPU, []string{"cpu.stat", "cpuacct.usage"}, func(u *Usage, file string, r io.Reader) (bool, error) {
		if file == "cpu.stat" {
			v, err := keyedValue(r, "usage_usec")
			u.CPUNanos = v * 1000
			return true, err
		}
		v, err := ParseValue(r)
		u.CPUNanos = v
		return true, err
	}},
	{HasMemory, []string{"memory.current", "memory.usage_in_bytes"}, value(func(u *Usage) *uint64 { return &u.MemoryBytes })},
	// The limit comes from the first folder that has a limit file at all.
	{HasMemoryLimit, []string{"memory.max", "memory.limit_in_bytes"}, func(u *Usage, _ string, r io.Reader) (bool, error) {
		v, err := ParseValue(r)
		if err != nil || v >= noLimit {
			return false, err
		}
		u.MemoryLimitBytes = v
		return true, nil
	}},
	{HasPids, []string{"pids.current"}, value(func(u *Usage) *uint64 { return &u.Pids })},
	{HasIO, []string{"io.stat", "blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive"}, func(u *Usage, file string, r io.Reader) (bool, error) {
		parse := ParseBlkio
		if file == "io.stat" {
			parse = ParseIOStat
		}
		rw, err := parse(r)
		u.ReadBytes, u.WriteBytes = rw[0], rw[1]
		return true, err
	}},
}

// ReadUsage reads what the processes of the cgroup folders dirs use: each
// measure from the first folder that has its file. It never fails: what
// cannot be read is left out of Has.
func ReadUsage(dirs []string) Usage {
	var u Usage
	for _, m := range measures {
		probe(&u, m, dirs)
	}
	return u
}

// probe reads measure m from the first folder of dirs that has one of its
// files, and returns that file's path, "" if none has.
func probe(u *Usage, m measure, dirs []string) string {
	for _, d := range dirs {
		for _, f := range m.files {
			path := filepath.Join(d, f)
			if readMeasure(u, m, path) {
				return path
			}
		}
	}
	return ""
}

// readMeasure reads measure m from path into u, and tells whether the
// file could be read.
func readMeasure(u *Usage, m measure, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	held, err := m.set(u, filepath.Base(path), f)
	if err != nil {
		return false
	}
	if held {
		u.Has |= m.has
	}
	return true
}

// UsageReader reads the usage of one set of folders again and again, as a
// recorder does every few seconds: it remembers which file gave each
// measure and opens that one only, and looks for the measures a host
// lacks only every reprobeEvery reads, instead of opening every name the
// hierarchies might use each time. A remembered file that cannot be read
// any more is looked for again at once.
type UsageReader struct {
	dirs  []string
	found []string
	reads int
}

// reprobeEvery is how many reads a measure found nowhere waits for
// another look.
const reprobeEvery = 16

// NewUsageReader is a reader of the folders dirs.
func NewUsageReader(dirs []string) *UsageReader {
	return &UsageReader{dirs: dirs, found: make([]string, len(measures))}
}

// Read is ReadUsage of the reader's folders.
func (r *UsageReader) Read() Usage {
	var u Usage
	look := r.reads%reprobeEvery == 0
	r.reads++
	for i, m := range measures {
		if path := r.found[i]; path != "" && readMeasure(&u, m, path) {
			continue
		}
		if r.found[i] != "" || look {
			r.found[i] = probe(&u, m, r.dirs)
		}
	}
	return u
}

// ParseValue reads a file holding one number, such as memory.current or
// cpuacct.usage. "max" (no limit, in the unified hierarchy) reads as the
// largest value.
func ParseValue(r io.Reader) (uint64, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return ^uint64(0), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading cgroup value %q: %w", s, err)
	}
	return v, nil
}

// keyedValue reads the value of key in a flat keyed file ("key value"
// lines), such as cpu.stat.
func keyedValue(r io.Reader, key string) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == key {
			return strconv.ParseUint(f[1], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in cgroup file", key)
}

// ParseIOStat sums the bytes read and written over every device of a
// unified io.stat ("MAJ:MIN rbytes=N wbytes=N rios=N ..." lines).
func ParseIOStat(r io.Reader) ([2]uint64, error) {
	var rw [2]uint64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "rbytes":
				rw[0] += n
			case "wbytes":
				rw[1] += n
			}
		}
	}
	return rw, sc.Err()
}

// ParseBlkio sums the bytes read and written over every device of a v1
// blkio.*io_service_bytes* file ("MAJ:MIN Read N" lines, and a "Total N"
// line that is skipped).
func ParseBlkio(r io.Reader) ([2]uint64, error) {
	var rw [2]uint64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		n, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			continue
		}
		switch f[1] {
		case "Read":
			rw[0] += n
		case "Write":
			rw[1] += n
		}
	}
	return rw, sc.Err()
}

// AppDirs finds the cgroup folders of one app of a pod whose folders are
// podDirs: in each, the child named after the app (made by stage1), or else
// the folder of its systemd service (<app>.service, somewhere below, made
// by the pod's own systemd). Folders where the app has neither are left
// out.
func AppDirs(podDirs []string, app string) []string {
	var out []string
	for _, d := range podDirs {
		child := filepath.Join(d, app)
		if st, err := os.Stat(child); err == nil && st.IsDir() {
			out = append(out, child)
			continue
		}
		if s := findDir(d, app+".service", 4); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// findDir looks for a folder called name below top, at most depth levels
// down, breadth first; "" if there is none.
func findDir(top, name string, depth int) string {
	level := []string{top}
	for i := 0; i < depth && len(level) > 0; i++ {
		var next []string
		for _, dir := range level {
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if !e.IsDir() {
					continue
				}
				p := filepath.Join(dir, e.Name())
				if e.Name() == name {
					return p
				}
				next = append(next, p)
			}
		}
		level = next
	}
	return ""
}

// statsControllers returns the v1 controllers in which a pod needs a
// folder of its own for its usage to be read: cpuacct, memory, pids and
// blkio, less those that the tracking hierarchy base gives (the unified
// hierarchy always counts CPU time, and the rest where this process's
// cgroup enables them for its children). Unmounted ones are left in; the
// group simply gets no folder in them.
func statsControllers(mounts []Mount, base string) []string {
	var enabled []string
	unified := strings.HasPrefix(base, unifiedDir(mounts))
	if unified {
		if b, err := os.ReadFile(filepath.Join(base, "cgroup.subtree_control")); err == nil {
			enabled = strings.Fields(string(b))
		}
	}
	var out []string
	for _, c := range []struct{ v2, v1 string }{{"cpu", "cpuacct"}, {"memory", "memory"}, {"pids", "pids"}, {"io", "blkio"}} {
		if unified && (c.v2 == "cpu" || contains(enabled, c.v2)) {
			continue
		}
		out = append(out, c.v1)
	}
	return out
}

// newStatsChildren makes the app's own folder below the group's in each
// hierarchy its usage is read from, where the group has a folder, and
// returns them.
func (g *Group) newStatsChildren(app string) ([]string, error) {
	var dirs []string
	for _, c := range g.stats {
		if parent := g.v1[c]; parent != "" {
			dirs = append(dirs, filepath.Join(parent, app))
		}
	}
	dirs = uniq(dirs)
	err := eachDir(dirs, func(d string) error {
		if err := g.mkdirChild(d); err != nil {
			return fmt.Errorf("creating cgroup of app %s: %w", app, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dirs, nil
}
