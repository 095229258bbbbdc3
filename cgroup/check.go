package cgroup

// Checking a cgroup folder named in a pod's records before acting on it.
//
// The records live in the pod's directory, which a root app of the fly
// flavor can rewrite. podctl kills, freezes and removes cgroups as root, so
// a folder read from a record is acted on only if it is, beyond doubt, one
// of that pod's own:
//
//	rule                                   why
//	absolute and clean (no "..", no "//")  the text is the folder acted on
//	below the mount point of a cgroup      not a hierarchy's root, not a
//	  hierarchy this process sees mounted    folder outside cgroupfs
//	named podctl-<uuid> (an app's folder:  not a host cgroup, not another
//	  below a folder so named)               pod's
//	no symbolic link on the way            the path names the folder itself
//	a folder on cgroupfs (fstatfs)         nothing mounted over it
//	no mount point below it                a walk of its tree (kill,
//	                                         remove) stays in the pod's

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// PodDirName is the name of a pod's cgroup folder in each hierarchy.
func PodDirName(uuid string) string { return "podctl-" + uuid }

// checkUUID refuses a pod UUID that cannot be one element of a path.
func checkUUID(uuid string) error {
	if uuid == "" || uuid == "." || uuid == ".." || strings.ContainsAny(uuid, "/\x00") {
		return fmt.Errorf("%q is not a pod UUID", uuid)
	}
	return nil
}

// BadRecordError is a cgroup folder named in a pod's records that fails
// the checks: podctl leaves it alone.
type BadRecordError struct {
	// Dir is the folder as the record names it.
	Dir string
	// Problem says what is wrong with it.
	Problem string
}

func (e *BadRecordError) Error() string {
	return fmt.Sprintf("cgroup %q in the pod's records %s", e.Dir, e.Problem)
}

// Checker checks cgroup folders read from pods' records against the cgroup
// hierarchies mounted on this host, read once when it is made. It serves
// the mount namespace it was made in: its lookups start at descriptors of
// the hierarchies' mount points, and a lookup from a descriptor crosses
// the mounts of that descriptor's namespace.
type Checker struct {
	mounts []Mount
	// points are the mount points of every filesystem.
	points []string
	// onCgroupFS reports whether a folder, open as fd, is on a cgroup
	// filesystem; a test's fake hierarchy in a temporary folder replaces
	// it.
	onCgroupFS func(fd int, dir string) (bool, error)
	// roots holds a descriptor of each of mounts' mount points, by index,
	// opened when first needed (rootOf).
	roots *hierarchyRoots
}

// hierarchyRoots are O_PATH descriptors of a checker's hierarchies'
// mount points, by mount point, from which recorded folders are looked
// up: a lookup from the root of the file system walks the mount point's
// path again for every folder (/sys/fs/cgroup/memory, four elements and
// three mounts), and gc looks up four folders for every pod it marks,
// most of them gone. -1 is a mount point that could not be opened. They
// are closed when the checker is dropped.
type hierarchyRoots struct {
	sync.Mutex
	fds map[string]int
}

func (r *hierarchyRoots) close() {
	for _, fd := range r.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// NewChecker reads the cgroup hierarchies mounted where the calling thread
// sees them (/proc/thread-self/mountinfo): a thread locked in a mount
// namespace of its own reads that namespace's.
func NewChecker() (*Checker, error) {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("finding cgroups: %w", err)
	}
	return newChecker(b, onCgroupFS)
}

func newChecker(mountinfo []byte, onCgroup func(int, string) (bool, error)) (*Checker, error) {
	mounts, err := ParseMountinfo(bytes.NewReader(mountinfo))
	if err != nil {
		return nil, fmt.Errorf("finding cgroups: %w", err)
	}
	c := &Checker{mounts: mounts, onCgroupFS: onCgroup, roots: &hierarchyRoots{fds: map[string]int{}}}
	runtime.AddCleanup(c, (*hierarchyRoots).close, c.roots)
	for _, line := range strings.Split(string(mountinfo), "\n") {
		// id parent maj:min root mountpoint ...
		if f := strings.Fields(line); len(f) > 4 {
			c.points = append(c.points, unescapeOctal(f[4]))
		}
	}
	return c, nil
}

// onCgroupFS reports whether the folder open as fd (dir) is on a cgroup
// (v1 or v2) filesystem.
func onCgroupFS(fd int, dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false, &fs.PathError{Op: "fstatfs", Path: dir, Err: err}
	}
	return st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC, nil
}

// CheckPodDir checks that dir is a folder of pod uuid's own cgroup: its
// last element is podctl-<uuid>. It returns a *BadRecordError if dir fails
// a check, and an error wrapping fs.ErrNotExist if dir passes them but is
// not there (removed already: nothing to act on).
func (c *Checker) CheckPodDir(dir, uuid string) error {
	return c.check(dir, uuid, false)
}

// CheckInPodDir is CheckPodDir for a folder at or below one of the pod's
// (an app's own folder).
func (c *Checker) CheckInPodDir(dir, uuid string) error {
	return c.check(dir, uuid, true)
}

// check is the one check of a recorded folder; below allows folders below
// the pod's.
func (c *Checker) check(dir, uuid string, below bool) error {
	m, err := c.checkPath(dir, uuid, below)
	if err != nil {
		return err
	}
	return c.lookAt(m, dir, uuid, badDir(dir))
}

// badDir makes the errors of the checks of dir.
func badDir(dir string) func(string, ...any) error {
	return func(format string, args ...any) error {
		return &BadRecordError{Dir: dir, Problem: fmt.Sprintf(format, args...)}
	}
}

// checkPath is check's part that needs no look at the folder, by its path
// and the mount table; it returns the folder's hierarchy.
func (c *Checker) checkPath(dir, uuid string, below bool) (*Mount, error) {
	bad := func(format string, args ...any) (*Mount, error) { return nil, badDir(dir)(format, args...) }
	if err := checkUUID(uuid); err != nil {
		return bad("belongs to no pod: %v", err)
	}
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return bad("is not an absolute, clean path")
	}
	m := c.hierarchyOf(dir)
	if m == nil {
		return bad("is in no cgroup hierarchy mounted on this host")
	}
	if dir == m.Dir {
		return bad("is the root of the cgroup hierarchy mounted there")
	}
	elems := strings.Split(strings.TrimPrefix(dir[len(m.Dir):], "/"), "/")
	name := PodDirName(uuid)
	switch {
	case !below && elems[len(elems)-1] != name:
		return bad("is not named %s", name)
	case below && !contains(elems, name):
		return bad("is not in a folder named %s", name)
	}
	for _, pt := range c.points {
		if pt != dir && atOrBelow(pt, dir) {
			return bad("has a mount point below it, %s", pt)
		}
	}
	return m, nil
}

// lookAt is the look at dir itself, once its path has passed the checks:
// a folder, reached through no symbolic link, on cgroupfs. One openat2
// that follows no link and an fstatfs of what it opened, rather than an
// lstat of every element of the path: list looks at the folders of every
// running pod.
func (c *Checker) lookAt(m *Mount, dir, uuid string, bad func(string, ...any) error) error {
	fd, err := c.openDir(m, dir, uuid, bad)
	if err != nil || fd < 0 {
		return err
	}
	unix.Close(fd)
	return nil
}

// openDir opens dir, in hierarchy m, as lookAt looks at it, O_PATH; -1
// with no error if it was looked at without openat2 (lookAtPath), which
// this kernel or a seccomp filter refuses. The lookup starts at m's mount
// point where it could be opened (rootOf), beneath it.
func (c *Checker) openDir(m *Mount, dir, uuid string, bad func(string, ...any) error) (int, error) {
	how := &unix.OpenHow{
		// No O_NOFOLLOW: with O_PATH, it would open a link at the end
		// rather than fail with ELOOP.
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	}
	at, rel := unix.AT_FDCWD, dir
	if root := c.rootOf(m); root >= 0 {
		// A mount on the way fails the lookup (EXDEV): none belongs
		// between a hierarchy's mount point and its folders.
		at, rel = root, relTo(m, dir)
		how.Resolve |= unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV
	}
	return c.openChecked(at, rel, how, dir, uuid, bad)
}

// relTo is dir's path below its hierarchy m's mount point; dir is clean
// and below it (checkPath), so that it has no "..".
func relTo(m *Mount, dir string) string { return strings.TrimPrefix(dir[len(m.Dir):], "/") }

// openChecked opens rel below at (the recorded folder dir, or a file in
// it) as how says, and checks that what it opened is on cgroupfs; -1 with
// no error if openat2 is refused (ENOSYS, or EPERM from a seccomp filter)
// and dir was looked at by lookAtPath instead. at, unless AT_FDCWD, is on
// cgroupfs (a root, or a folder opened and checked so): a lookup from it
// that crosses no mount (RESOLVE_NO_XDEV) needs no check, as what it
// opened is on the same mount.
func (c *Checker) openChecked(at int, rel string, how *unix.OpenHow, dir, uuid string, bad func(string, ...any) error) (int, error) {
	fd, err := unix.Openat2(at, rel, how)
	// at may be one of c's roots, which c's cleanup closes.
	runtime.KeepAlive(c)
	switch err {
	case nil:
	case unix.ENOSYS, unix.EPERM:
		return -1, c.lookAtPath(dir, uuid, bad)
	default:
		return -1, lookError(dir, uuid, err, bad)
	}
	if at != unix.AT_FDCWD && how.Resolve&unix.RESOLVE_NO_XDEV != 0 {
		return fd, nil
	}
	if err := c.checkFS(fd, dir, bad); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// rootOf is a descriptor of hierarchy m's mount point, opened through no
// symbolic link and on cgroupfs, or -1 if it cannot be had or m is nil (the lookup then starts at /,
// as the mount point's path is looked up the same way). The caller keeps
// c alive while it uses the descriptor (runtime.KeepAlive), which c's
// cleanup closes.
func (c *Checker) rootOf(m *Mount) int {
	if m == nil {
		return -1
	}
	r := c.roots
	r.Lock()
	defer r.Unlock()
	fd, ok := r.fds[m.Dir]
	if !ok {
		var err error
		fd, err = unix.Openat2(unix.AT_FDCWD, m.Dir, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS,
		})
		if err != nil {
			fd = -1
		} else if ok, err := c.onCgroupFS(fd, m.Dir); err != nil || !ok {
			// Only a mount point on cgroupfs is a root: what is opened
			// beneath one without crossing a mount is on cgroupfs too,
			// and needs no fstatfs of its own (openChecked).
			unix.Close(fd)
			fd = -1
		}
		r.fds[m.Dir] = fd
	}
	return fd
}

// lookError is what the openat2 of a recorded folder dir failing with
// err says.
func lookError(dir, uuid string, err error, bad func(string, ...any) error) error {
	switch err {
	case unix.ENOENT:
		return fmt.Errorf("cgroup %s of pod %s: %w", dir, uuid, fs.ErrNotExist)
	case unix.ELOOP:
		return bad("is or goes through a symbolic link")
	case unix.ENOTDIR:
		return bad("is not a folder")
	case unix.EXDEV:
		// Only a lookup with RESOLVE_NO_XDEV fails so (ReadFreezer's).
		return bad("is not on a cgroup filesystem of its hierarchy: a file system is mounted on the way")
	}
	return bad("cannot be looked at: %v", &fs.PathError{Op: "openat2", Path: dir, Err: err})
}

// checkFS checks that fd, open on dir or a file in it, is on cgroupfs.
func (c *Checker) checkFS(fd int, dir string, bad func(string, ...any) error) error {
	ok, err := c.onCgroupFS(fd, dir)
	if err != nil {
		return bad("cannot be looked at: %v", err)
	}
	if !ok {
		return bad("is not on a cgroup filesystem")
	}
	return nil
}

// lookAtPath is lookAt without openat2.
func (c *Checker) lookAtPath(dir, uuid string, bad func(string, ...any) error) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		if err == unix.ENOENT {
			return fmt.Errorf("cgroup %s of pod %s: %w", dir, uuid, fs.ErrNotExist)
		}
		return bad("cannot be looked at: %v", &fs.PathError{Op: "lstat", Path: dir, Err: err})
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return bad("is or goes through a symbolic link")
	case unix.S_IFDIR:
	default:
		return bad("is not a folder")
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return bad("cannot be resolved: %v", err)
	}
	if real != dir {
		return bad("is or goes through a symbolic link (to %s)", real)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return bad("cannot be looked at: %v", &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(fd)
	return c.checkFS(fd, dir, bad)
}

// hierarchyOf is the hierarchy of dir: the deepest cgroup mount point at
// or above it; nil if none is.
func (c *Checker) hierarchyOf(dir string) *Mount { return hierarchyIn(c.mounts, dir) }

// hierarchyIn is the deepest of mounts at or above dir; nil if none is.
func hierarchyIn(mounts []Mount, dir string) *Mount {
	var m *Mount
	for i := range mounts {
		if d := mounts[i].Dir; atOrBelow(dir, d) && (m == nil || len(d) > len(m.Dir)) {
			m = &mounts[i]
		}
	}
	return m
}

// atOrBelow reports whether path dir is mount or below it, as
// strings.HasPrefix(dir, strings.TrimSuffix(mount, "/")+"/") would say
// without making that string: list checks the cgroup folders of every
// running pod against every mount.
func atOrBelow(dir, mount string) bool {
	if !strings.HasPrefix(dir, mount) {
		return false
	}
	return len(dir) == len(mount) || strings.HasSuffix(mount, "/") || dir[len(mount)] == '/'
}

// FindPodDirs walks every cgroup hierarchy mounted here and returns, by
// pod UUID, the folders named podctl-<uuid> that pass the checks: a pod's
// folders found from its UUID alone, whatever its records say. A folder
// found is not walked below (its apps' folders are the pod's own). Each
// hierarchy is walked once, however many times it is mounted; a folder
// that vanishes meanwhile is skipped.
func (c *Checker) FindPodDirs() map[string][]string {
	out := map[string][]string{}
	walked := map[string]bool{}
	for _, m := range c.mounts {
		if walked[m.Dev] {
			continue
		}
		walked[m.Dev] = true
		filepath.WalkDir(m.Dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			uuid, ok := strings.CutPrefix(d.Name(), "podctl-")
			if !ok || path == m.Dir {
				return nil
			}
			if c.CheckPodDir(path, uuid) == nil {
				out[uuid] = append(out[uuid], path)
			}
			return filepath.SkipDir
		})
	}
	return out
}

// TrackingFirst orders a pod's folders so that one in the unified
// hierarchy, where every process of the pod is and cgroup.kill reaches
// them all, comes first; the others keep their order.
func TrackingFirst(dirs []string) []string {
	out := make([]string, 0, len(dirs))
	var rest []string
	for _, d := range dirs {
		var st unix.Statfs_t
		if unix.Statfs(d, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			out = append(out, d)
		} else {
			rest = append(rest, d)
		}
	}
	return append(out, rest...)
}
