// Package cgroup finds the cgroup hierarchies of the host and keeps a pod's
// processes in a cgroup of their own, so that every one of them can be found
// and killed, whatever they did to their parent, their session or their user.
//
// A pod's cgroup lives below the cgroup of the process that creates it, in
// one tracking hierarchy: the unified (v2) one when it is mounted, else the
// first of the v1 pids, freezer or name=systemd hierarchies. Its path is
// recorded in the pod so that gc can kill what is left and remove it.
//
//	<mount>/<own cgroup>/podctl-<uuid>/      the pod
//	    cgroup.procs                         every process of the pod
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Mount is one cgroup hierarchy mounted on the host.
type Mount struct {
	// Dir is where it is mounted.
	Dir string
	// V2 is true for the unified hierarchy.
	V2 bool
	// Controllers are the v1 controllers (and name=NAME) bound to it.
	Controllers []string
	// Dev is the hierarchy's device (major:minor), the same wherever
	// it is mounted.
	Dev string
}

// ParseMountinfo returns the cgroup hierarchies listed in a mountinfo file.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(fields)+1 || len(fields) < 5 {
			continue
		}
		fstype := fields[sep+1]
		switch fstype {
		case "cgroup2":
			out = append(out, Mount{Dir: unescapeOctal(fields[4]), V2: true, Dev: fields[2]})
		case "cgroup":
			var ctrls []string
			if sep+3 < len(fields) {
				for _, o := range strings.Split(fields[sep+3], ",") {
					switch o {
					case "rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "noprefix", "xattr":
						continue
					}
					if strings.HasPrefix(o, "release_agent=") {
						continue
					}
					ctrls = append(ctrls, o)
				}
			}
			out = append(out, Mount{Dir: unescapeOctal(fields[4]), Controllers: ctrls, Dev: fields[2]})
		}
	}
	return out, sc.Err()
}

// unescapeOctal undoes the \NNN escapes mountinfo writes for spaces, tabs,
// newlines and backslashes in a path.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return len(s) == 3
}

// ParseProcCgroup returns a process's cgroup path per hierarchy, keyed by
// the controller list as /proc/PID/cgroup gives it ("" for the unified one,
// "memory", "name=systemd", "cpu,cpuacct"...).
func ParseProcCgroup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		out[parts[1]] = parts[2]
	}
	return out, sc.Err()
}

// unifiedDir is where the unified hierarchy is mounted, or "" if it is not.
func unifiedDir(mounts []Mount) string {
	for _, m := range mounts {
		if m.V2 {
			return m.Dir
		}
	}
	return "\x00"
}

// trackingOrder is the v1 hierarchies that can hold a pod's processes when
// there is no unified one, best first.
var trackingOrder = []string{"pids", "freezer", "name=systemd"}

// trackingDir chooses the folder below which the process whose cgroups are
// own makes its pods' cgroups.
func trackingDir(mounts []Mount, own map[string]string) (string, error) {
	for _, m := range mounts {
		if m.V2 {
			if p, ok := own[""]; ok {
				return filepath.Join(m.Dir, p), nil
			}
		}
	}
	for _, want := range trackingOrder {
		for _, m := range mounts {
			key := strings.Join(m.Controllers, ",")
			if !m.V2 && contains(m.Controllers, want) {
				if p, ok := own[key]; ok {
					return filepath.Join(m.Dir, p), nil
				}
			}
		}
	}
	return "", errors.New("no cgroup hierarchy to keep pods in: mount cgroup2 or the v1 pids controller")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Group is a pod's cgroup, in one hierarchy or more.
type Group struct {
	// Dirs are the cgroup's folders: the tracking hierarchy's first, which
	// is the one processes are listed and killed in.
	Dirs []string
	// unified tells whether Dirs[0] is in the unified hierarchy; v1 maps
	// a v1 controller to the group's folder in its hierarchy. Both are
	// known only to the process that made the group.
	unified bool
	v1      map[string]string
	// stats are the v1 controllers in which the group has folders for its
	// usage (statsControllers); mounts the host's hierarchies when the
	// group was made.
	stats  []string
	mounts []Mount
	// made are the folders below Dirs that the group made (mkdirChild),
	// in order, which Remove takes away without reading a folder.
	madeMu sync.Mutex
	made   []string
}

// CheckTracking reports whether this host has a hierarchy to keep pods in.
func CheckTracking() error {
	mounts, own, err := readSelf()
	if err != nil {
		return err
	}
	_, err = trackingDir(mounts, own)
	return err
}

// readSelf reads the host's cgroup mounts and this process's cgroups.
func readSelf() ([]Mount, map[string]string, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil, fmt.Errorf("finding cgroups: %w", err)
	}
	defer mi.Close()
	mounts, err := ParseMountinfo(mi)
	if err != nil {
		return nil, nil, fmt.Errorf("finding cgroups: %w", err)
	}
	pc, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, nil, fmt.Errorf("finding cgroups: %w", err)
	}
	defer pc.Close()
	own, err := ParseProcCgroup(pc)
	if err != nil {
		return nil, nil, fmt.Errorf("finding cgroups: %w", err)
	}
	return mounts, own, nil
}

// NewPodGroup creates the cgroup of pod uuid below this process's own, in
// the tracking hierarchy, in each of the v1 hierarchies named in also
// (such as "name=systemd", for a pod that runs systemd), and in those its
// usage is read from (statsControllers), where they are mounted. A pod's
// stage1 plans the group (PlanPodGroup), records it, then makes it; this is
// for callers that keep no record.
func NewPodGroup(uuid string, also ...string) (*Group, error) {
	g, err := PlanPodGroup(uuid, also...)
	if err != nil {
		return nil, err
	}
	if err := g.Make(); err != nil {
		return nil, err
	}
	return g, nil
}

// PlanPodGroup works out the folders NewPodGroup would create, without
// creating any: the caller records them first, so that whatever kills it
// between one mkdir and the next, gc finds every folder there is.
func PlanPodGroup(uuid string, also ...string) (*Group, error) {
	if err := checkUUID(uuid); err != nil {
		return nil, err
	}
	mounts, own, err := readSelf()
	if err != nil {
		return nil, err
	}
	base, err := trackingDir(mounts, own)
	if err != nil {
		return nil, err
	}
	name := PodDirName(uuid)
	g := &Group{v1: map[string]string{}, unified: strings.HasPrefix(base, unifiedDir(mounts)), mounts: mounts}
	g.stats = statsControllers(mounts, base)
	also = append(also, g.stats...)
	if !g.unified {
		// Without the unified hierarchy's cgroup.freeze, the v1 freezer
		// is what can pause the pod (Freeze).
		also = append(also, "freezer")
	}
	add := func(dir string) {
		for _, d := range g.Dirs {
			if d == dir {
				return
			}
		}
		g.Dirs = append(g.Dirs, dir)
	}
	add(filepath.Join(base, name))
	for _, want := range also {
		for _, m := range mounts {
			key := strings.Join(m.Controllers, ",")
			if p, ok := own[key]; ok && !m.V2 && contains(m.Controllers, want) {
				dir := filepath.Join(m.Dir, p, name)
				add(dir)
				g.v1[want] = dir
			}
		}
	}
	return g, nil
}

// Make creates the group's folders, the tracking hierarchy's first. A
// folder that exists already is taken as made. On error it removes what it
// made.
func (g *Group) Make() error {
	mkdir := func(d string) error {
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("creating cgroup %s: %w", d, err)
		}
		return nil
	}
	var err error
	if g.nested() {
		for _, d := range g.Dirs {
			if err = mkdir(d); err != nil {
				break
			}
		}
	} else {
		err = eachDir(g.Dirs, mkdir)
	}
	if err != nil {
		if rerr := g.Remove(); rerr != nil {
			err = fmt.Errorf("%w; %v", err, rerr)
		}
		return err
	}
	return nil
}

// nested reports whether one of the group's folders is below another.
func (g *Group) nested() bool {
	for _, d := range g.Dirs {
		if g.hasBelow(d) {
			return true
		}
	}
	return false
}

// eachDir runs f on each of dirs in turn, all of them whatever fails, and
// returns the first failure. One at a time: the kernel makes and removes
// the folders of every hierarchy under one lock (cgroup_mutex), held for
// the whole of a v1 memory folder's making (a good part of a
// millisecond), so that a second thread making another hierarchy's folder
// meanwhile would only spin on the lock, taking a CPU from the pod's init
// as it starts.
func eachDir(dirs []string, f func(dir string) error) error {
	var first error
	for _, d := range dirs {
		if err := f(d); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Join moves the calling process (all its threads) into the group, in
// every hierarchy.
func (g *Group) Join() error {
	for _, d := range g.Dirs {
		if g.hasBelow(d) {
			// The process goes to the deeper folder; in the unified
			// hierarchy it may not sit in one that has children with
			// controllers.
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte("0"), 0); err != nil {
			return fmt.Errorf("joining cgroup %s: %w", d, err)
		}
	}
	return nil
}

// hasBelow reports whether another of the group's folders is below dir.
func (g *Group) hasBelow(dir string) bool {
	for _, d := range g.Dirs {
		if strings.HasPrefix(d, dir+"/") {
			return true
		}
	}
	return false
}

// Leave moves the calling process back to the cgroups the group was made
// in (each folder's parent), in every hierarchy.
func (g *Group) Leave() error {
	for _, d := range g.Dirs {
		if err := os.WriteFile(filepath.Join(filepath.Dir(d), "cgroup.procs"), []byte("0"), 0); err != nil {
			return fmt.Errorf("leaving cgroup %s: %w", d, err)
		}
	}
	return nil
}

// Procs lists the processes in the group and below it.
func (g *Group) Procs() ([]int, error) {
	if len(g.Dirs) == 0 {
		return nil, nil
	}
	var pids []int
	dir := g.Dirs[0]
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if gone(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if gone(err) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing processes of cgroup %s: %w", dir, err)
	}
	return pids, nil
}

// KillWait is how long Kill's callers wait for a killed group to be
// empty. A killed process is sure to end, but on a loaded machine the end
// of many (a pod's systemd and its services, their network namespace) can
// take seconds.
const KillWait = 30 * time.Second

// Kill sends SIGKILL to every process in the group and waits, up to
// timeout, for the group to be empty. It uses cgroup.kill where the kernel
// has it, which reaches processes forked meanwhile too; elsewhere it kills
// what it sees until nothing is left.
func (g *Group) Kill(timeout time.Duration) error {
	if len(g.Dirs) == 0 {
		return nil
	}
	dir := g.Dirs[0]
	if unpopulated(dir) {
		return nil
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	killFile := filepath.Join(dir, "cgroup.kill")
	useKillFile := false
	if _, err := os.Stat(killFile); err == nil {
		useKillFile = true
	}
	deadline := time.Now().Add(timeout)
	for {
		if useKillFile {
			if err := os.WriteFile(killFile, []byte("1"), 0); err != nil {
				if gone(err) {
					// Removed meanwhile (the pod's stage1, at its end):
					// nothing is left in it.
					return nil
				}
				return fmt.Errorf("killing cgroup %s: %w", dir, err)
			}
		}
		pids, err := g.Procs()
		if err != nil {
			return err
		}
		pids = living(pids)
		if len(pids) == 0 {
			return nil
		}
		if !useKillFile {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes %v after SIGKILL", dir, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unpopulated tells whether unified folder dir says that no process
// lives in it or below it (cgroup.events: "populated 0"): one read, where
// Kill would read every folder's cgroup.procs. That is the pod's cgroup at
// its end, most often: its processes ended with it. False for a v1
// folder, which has no such file, and for one that cannot be read.
func unpopulated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return v == "0"
		}
	}
	return false
}

// living drops the zombies from pids: they are dead, and only waiting for a
// parent (often the machine's init, once their own parent was killed) to
// reap them.
func living(pids []int) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ...; comm may hold spaces and parentheses.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && s[i+2] == 'Z' {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// Remove deletes the group and the groups below it, in every hierarchy.
// They must be empty.
func (g *Group) Remove() error {
	if g.nested() {
		for _, d := range g.Dirs {
			if err := g.removeDir(d); err != nil {
				return err
			}
		}
		return nil
	}
	return eachDir(g.Dirs, g.removeDir)
}

// removeDir removes dir, one of the group's folders, and what is below
// it: the folders the group made there, the deepest first, then dir,
// without reading a folder (which costs a v1 hierarchy's folder dozens of
// entries: half of a pod's removal); if one of them will not go (a
// folder the group did not make is below it, or a process is still
// leaving it), by walking it (removeTree).
func (g *Group) removeDir(dir string) error {
	g.madeMu.Lock()
	made := slices.Clone(g.made)
	g.madeMu.Unlock()
	for i := len(made) - 1; i >= 0; i-- {
		if !strings.HasPrefix(made[i], dir+"/") {
			continue
		}
		if err := syscall.Rmdir(made[i]); err != nil && !gone(err) {
			return walkRemove(dir)
		}
	}
	if err := syscall.Rmdir(dir); err != nil && !gone(err) {
		return walkRemove(dir)
	}
	return nil
}

// walkRemove is removeTree; tests count its calls.
var walkRemove = removeTree

// mkdirChild makes d, a folder below one of the group's, and notes it for
// Remove. One that exists already is taken as made.
func (g *Group) mkdirChild(d string) error {
	if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	g.NoteChild(d)
	return nil
}

// NoteChild tells the group of d, a folder below one of its own that
// another process makes (or may make), for Remove to take away first.
func (g *Group) NoteChild(d string) {
	g.madeMu.Lock()
	g.made = append(g.made, d)
	g.madeMu.Unlock()
}

// gone tells whether err says a cgroup file or folder is no more. A
// cgroup being removed (its last process just exited, or another stop
// removes it) answers ENODEV rather than ENOENT for a moment.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV)
}

func removeTree(top string) error {
	var dirs []string
	err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if gone(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing cgroup %s: %w", top, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		// A zombie not yet reaped keeps its cgroup busy for a moment.
		deadline := time.Now().Add(3 * time.Second)
		for {
			err := syscall.Rmdir(dirs[i])
			if err == nil || gone(err) {
				break
			}
			if err != syscall.EBUSY || time.Now().After(deadline) {
				return fmt.Errorf("removing cgroup %s: %w", dirs[i], err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// NewChild makes a cgroup below the group's in the tracking hierarchy and
// returns its folder.
func (g *Group) NewChild(name string) (string, error) {
	d := filepath.Join(g.Dirs[0], name)
	if err := g.mkdirChild(d); err != nil {
		return "", fmt.Errorf("creating cgroup %s: %w", name, err)
	}
	return d, nil
}

// View is one hierarchy of an app's cgroups as the app sees it below its
// /sys/fs/cgroup.
type View struct {
	// Source is the app's cgroup folder on the host.
	Source string `json:"source"`
	// Name is the hierarchy's folder below /sys/fs/cgroup: "" where the
	// unified hierarchy is mounted there itself.
	Name string `json:"name"`
	// Links are the other names of a hierarchy that binds several
	// controllers: "cpu" and "cpuacct" for "cpu,cpuacct".
	Links []string `json:"links,omitempty"`
}

// Views returns the hierarchies the cgroup folders dirs (an app's, below
// the pod's group) are in, named as the host names them below
// /sys/fs/cgroup. Where one of dirs is below
// another, the deeper one is the view.
func (pod *Group) Views(dirs []string) ([]View, error) {
	mounts := pod.mounts
	if mounts == nil {
		var err error
		if mounts, _, err = readSelf(); err != nil {
			return nil, err
		}
	}
	g := &Group{Dirs: dirs}
	var out []View
	for _, d := range dirs {
		if g.hasBelow(d) {
			continue
		}
		var best *Mount
		for i, m := range mounts {
			if (d == m.Dir || strings.HasPrefix(d, m.Dir+"/")) && (best == nil || len(m.Dir) > len(best.Dir)) {
				best = &mounts[i]
			}
		}
		if best == nil {
			return nil, fmt.Errorf("cgroup %s is in no mounted hierarchy", d)
		}
		v := View{Source: d, Name: filepath.Base(best.Dir)}
		if rel, err := filepath.Rel("/sys/fs/cgroup", best.Dir); err == nil && !strings.HasPrefix(rel, "..") {
			v.Name = strings.TrimPrefix(rel, ".")
		}
		if len(best.Controllers) > 1 && v.Name == strings.Join(best.Controllers, ",") {
			v.Links = best.Controllers
		}
		out = append(out, v)
	}
	return out, nil
}
