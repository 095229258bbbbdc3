package stage1

// The records that stop, rm, gc, stats, pause and enter act on as root
// (the pod's pid file and its cgroup record) are files in the pod's
// directory. The isolated flavors keep every app away from that directory,
// but a root app of the fly flavor can rewrite them, so each record is
// proven the pod's before podctl acts on it:
//
//	record                what proves it the pod's
//	pid (stage1)          the kernel's lock table: that process holds the
//	                      flock of the pod directory (device and inode),
//	                      and has the directory open
//	an app's pid          it is a process of the pod's checked cgroup; in
//	                      a rootless pod, which has none, of the PID
//	                      namespace of the proven stage1's init (PodPidNS)
//	stage1/cgroup         each folder passes cgroup.Checker: on cgroupfs,
//	                      in a mounted hierarchy, named podctl-<uuid>
//
// A record that fails is reported in one line on stderr and left alone;
// the command goes on with what passed.

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
	"time"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/fsutil"
	"podctl/internal/rootless"
	"podctl/lifecycle"
)

// maxCgroupRecord is the most a pod's cgroup record may hold: a few
// folders, one per hierarchy.
const maxCgroupRecord = 64 << 10

// BadPidError is a pid that podctl will not signal: not proven a process
// of the pod.
type BadPidError struct {
	// Pid is the pid, or 0 when the record holds none.
	Pid int
	// Problem says what is wrong with it.
	Problem string
}

func (e *BadPidError) Error() string {
	if e.Pid == 0 {
		// No pid to name: the record itself is what is wrong.
		return e.Problem
	}
	return fmt.Sprintf("pid %d %s", e.Pid, e.Problem)
}

// reported keeps what this process has said about bad records, so that a
// command that reads a record several times says it once.
var reported sync.Map

// ReportBad says, in one line on stderr, that a record of pod uuid failed
// its check and what podctl did about it.
func ReportBad(uuid string, err error, done string) {
	line := fmt.Sprintf("podctl: pod %s: %v: %s", uuid, err, done)
	if _, dup := reported.LoadOrStore(line, true); !dup {
		fmt.Fprintln(os.Stderr, line)
	}
}

// readRecord reads a small regular file below the folder open as dirfd,
// without following a symbolic link at its end and without blocking on a
// FIFO a pod put there.
func readRecord(dirfd int, name string, max int64) ([]byte, error) {
	b, err := fsutil.ReadRegularAt(dirfd, name, int(max))
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return nil, err
	case errors.Is(err, fsutil.ErrTooLong):
		return nil, fmt.Errorf("reading %s: more than %d bytes", name, max)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// checkedCgroupDirs reads the cgroup record of pod uuid, whose directory
// is open as dirfd, and returns the folders that pass the checks and are
// there; nil if it records none.
func checkedCgroupDirs(dirfd int, uuid string) ([]string, error) {
	return checkedCgroupDirsIf(dirfd, uuid, nil)
}

// checkedCgroupDirsIf is checkedCgroupDirs of the recorded folders for
// which keep, if given, says yes: only they are checked.
func checkedCgroupDirsIf(dirfd int, uuid string, keep func(c *cgroup.Checker, dir string) bool) ([]string, error) {
	record, err := readCgroupRecord(dirfd, uuid)
	if err != nil || record == "" {
		return nil, err
	}
	return checkRecordedDirs(nil, record, uuid, keep)
}

// readCgroupRecord reads the cgroup record of pod uuid, whose directory
// is open as dirfd, unchecked; "" if it has none.
func readCgroupRecord(dirfd int, uuid string) (string, error) {
	b, err := readRecord(dirfd, lifecycle.FileCgroup, maxCgroupRecord)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("reading cgroup record of pod %s: %w", uuid, err)
	}
	return string(b), nil
}

// CgroupRecord is the cgroup record of a pod as its stage1 wrote it,
// unchecked, for a reader that keeps a copy (list's running summary) and
// hands it to PausedFromRecord later; "" if the pod has none.
func CgroupRecord(p *lifecycle.Pod) (string, error) {
	return readCgroupRecord(p.DirFd(), p.UUID)
}

// checkRecordedDirs returns the folders of a cgroup record of pod uuid
// that pass checker c's checks (HostChecker's if nil) and are there.
func checkRecordedDirs(c *cgroup.Checker, record, uuid string, keep func(c *cgroup.Checker, dir string) bool) ([]string, error) {
	if c == nil {
		var err error
		if c, err = HostChecker(); err != nil {
			return nil, err
		}
	}
	dirs := []string{}
	for _, d := range strings.Fields(record) {
		if keep != nil && !keep(c, d) {
			continue
		}
		err := c.CheckPodDir(d, uuid)
		switch {
		case err == nil:
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		case errors.Is(err, fs.ErrNotExist):
			// Removed already, by its stage1 or another gc.
		default:
			ReportBad(uuid, err, "left alone")
		}
	}
	return dirs, nil
}

// PodCgroupDirs returns the cgroup folders recorded in a pod that pass
// cgroup.Checker's checks and are there, the tracking hierarchy's first;
// nil if the pod records none.
func PodCgroupDirs(p *lifecycle.Pod) ([]string, error) {
	return checkedCgroupDirs(p.DirFd(), p.UUID)
}

// PodGroup returns the pod's cgroup made of the recorded folders that pass
// the checks (PodCgroupDirs); nil if none does.
func PodGroup(p *lifecycle.Pod) (*cgroup.Group, error) {
	dirs, err := PodCgroupDirs(p)
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	return &cgroup.Group{Dirs: dirs}, nil
}

// PodFreezerGroup is PodGroup made of the recorded folders in a hierarchy
// that can freeze (cgroup.Checker.CanFreeze): all that pausing and
// resuming the pod act on.
func PodFreezerGroup(p *lifecycle.Pod) (*cgroup.Group, error) {
	record, err := CgroupRecord(p)
	if err != nil || record == "" {
		return nil, err
	}
	dirs, err := checkRecordedDirs(nil, record, p.UUID, (*cgroup.Checker).CanFreeze)
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	return &cgroup.Group{Dirs: dirs}, nil
}

// PausedFromRecord reports whether pod uuid is paused, from a copy of its
// cgroup record (CgroupRecord), as PodFreezerGroup's Frozen would say:
// by the first of its folders that can freeze and is there, the unified
// hierarchy's first, each checked by c (HostChecker's if nil) as it is
// read (cgroup.Checker.ReadFreezer). A folder that fails the checks is
// reported and left alone.
func PausedFromRecord(c *cgroup.Checker, uuid, record string) bool {
	if record == "" {
		return false
	}
	if c == nil {
		var err error
		if c, err = HostChecker(); err != nil {
			return false
		}
	}
	dirs := strings.Fields(record)
	for _, v2 := range []bool{true, false} {
		for _, d := range dirs {
			if !c.CanFreeze(d) || c.Unified(d) != v2 {
				continue
			}
			frozen, err := c.ReadFreezer(d, uuid)
			var bad *cgroup.BadRecordError
			switch {
			case err == nil:
				return frozen
			case errors.As(err, &bad):
				ReportBad(uuid, err, "left alone")
			}
		}
	}
	return false
}

// foundDirs caches one walk of the host's cgroup hierarchies
// (cgroup.Checker.FindPodDirs), for a gc that collects many pods: a walk
// costs milliseconds per few hundred folders.
var foundDirs struct {
	sync.Mutex
	at   time.Time
	dirs map[string][]string
}

// foundPodDirs is what the walk found named for pod uuid, and whether the
// walk is fresh; a walk that is not is made again with c, if c is given.
func foundPodDirs(c *cgroup.Checker, uuid string) (dirs []string, fresh bool) {
	foundDirs.Lock()
	defer foundDirs.Unlock()
	fresh = foundDirs.dirs != nil && time.Since(foundDirs.at) <= foundDirsMaxAge
	if !fresh && c != nil {
		foundDirs.dirs, foundDirs.at, fresh = c.FindPodDirs(), time.Now(), true
	}
	return foundDirs.dirs[uuid], fresh
}

// foundDirsMaxAge is how long one walk serves. A pod's folders made after
// the walk are in its record; those a walk saw but another process removed
// since are skipped as gone.
const foundDirsMaxAge = 2 * time.Second

// checkerCache keeps one reading of the cgroup mounts for a gc that checks
// many pods' cgroups: reading and parsing the mount table was most of the
// cost of marking an exited pod. It serves as long as foundDirs does, and
// only in the mount namespace it was read in.
var checkerCache struct {
	sync.Mutex
	at time.Time
	ns string
	c  *cgroup.Checker
}

// HostChecker is cgroup.NewChecker, read again after foundDirsMaxAge or
// in another mount namespace: the checker of this host's cgroup mounts
// that podctl's own checks use, and a caller that checks many pods'
// records at once (list) takes once, as getting it costs a system call.
func HostChecker() (*cgroup.Checker, error) {
	// The namespace's link read, not stat'ed: a stat of it makes the
	// kernel allocate a dentry each time, which was a tenth of a list of
	// running pods. The calling thread's, not the process's (/proc/self
	// is its first thread): a thread locked in a mount namespace of its
	// own gets a checker of that namespace.
	var buf [64]byte
	n, err := unix.Readlink("/proc/thread-self/ns/mnt", buf[:])
	if err != nil || n == len(buf) {
		return cgroup.NewChecker()
	}
	checkerCache.Lock()
	defer checkerCache.Unlock()
	if checkerCache.c == nil || checkerCache.ns != string(buf[:n]) || time.Since(checkerCache.at) > foundDirsMaxAge {
		c, err := cgroup.NewChecker()
		if err != nil {
			return nil, err
		}
		checkerCache.c, checkerCache.ns, checkerCache.at = c, string(buf[:n]), time.Now()
	}
	return checkerCache.c, nil
}

// CleanupGroup is the pod's cgroup as kill and removal see it: the
// recorded folders that pass the checks, and every folder named for the
// pod found in the host's hierarchies, which a record rewritten by the pod
// cannot hide. nil if there is none.
func CleanupGroup(p *lifecycle.Pod) (*cgroup.Group, error) {
	record, err := readCgroupRecord(p.DirFd(), p.UUID)
	if err != nil {
		return nil, err
	}
	found, fresh := foundPodDirs(nil, p.UUID)
	if record == "" && fresh && len(found) == 0 {
		// Nothing to look at: the pod of a stage1 that ended cleanly,
		// which removed its folders and then their record. gc marks
		// such pods by the thousand.
		return nil, nil
	}
	// One checker for both looks: getting it checks the mount namespace.
	c, err := HostChecker()
	if err != nil {
		return nil, err
	}
	dirs := []string{}
	if record != "" {
		if dirs, err = checkRecordedDirs(c, record, p.UUID, nil); err != nil {
			return nil, err
		}
	}
	if !fresh {
		found, _ = foundPodDirs(c, p.UUID)
	}
	for _, d := range found {
		if !slices.Contains(dirs, d) && c.CheckPodDir(d, p.UUID) == nil {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil, nil
	}
	return &cgroup.Group{Dirs: cgroup.TrackingFirst(dirs)}, nil
}

// CheckStage1Pid checks that pid is the pod's stage1: the process the
// kernel lists in /proc/locks as holding the exclusive flock of the pod's
// directory (same device, same inode), which also has that directory open.
// The second proof matters when the locker has died and left its
// descriptor to a child: its pid may be a new process's by now. It
// returns a *BadPidError if pid fails.
func CheckStage1Pid(p *lifecycle.Pod, pid int) error {
	err := checkLockHolder(p.LockFile(), pid)
	// A native pod's stage1 becoming podctl-wait shows neither its lock
	// nor its descriptors for a moment (execing): looked at again then,
	// briefly.
	for deadline := time.Now().Add(time.Second); err != nil && execing(pid) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		err = checkLockHolder(p.LockFile(), pid)
	}
	return err
}

// execing reports whether process pid is in an execve made by a thread
// other than its first, as a native pod's stage1 makes when it becomes
// podctl-wait: the first thread has ended, with its address space and
// its descriptors, and the kernel waits for the others to end before
// the one that called execve takes its place. Meanwhile /proc/PID
// shows no executable and no descriptor, and the thread as a zombie,
// though the process lives on.
func execing(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	threads := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmSize:") {
			// It has its address space: no execve under way.
			return false
		}
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return threads > 1
}

// checkLockHolder is CheckStage1Pid for the directory open as dir.
func checkLockHolder(dir *os.File, pid int) error {
	if pid <= 1 {
		return &BadPidError{pid, "is not a process podctl signals"}
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return fmt.Errorf("checking pid %d: %w", pid, err)
	}
	holders, err := flockHolders(st.Dev, st.Ino)
	if err != nil {
		return err
	}
	if !slices.Contains(holders, pid) {
		return &BadPidError{pid, fmt.Sprintf("does not hold the pod's lock (the kernel lists %v)", holders)}
	}
	open, err := hasOpen(pid, st.Dev, st.Ino)
	if err != nil {
		return fmt.Errorf("checking pid %d: %w", pid, err)
	}
	if !open {
		return &BadPidError{pid, "is not the process that took the pod's lock (it does not have the pod open)"}
	}
	return nil
}

// Alive reports whether pid is a process that has not ended (a zombie
// has, but for one whose first thread ended in an execve of another:
// execing).
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && (s[i+2] != 'Z' || execing(pid))
}

// flockHolders lists the pids /proc/locks gives for exclusive flocks held
// (not waited for) on the file with this device and inode.
func flockHolders(dev, ino uint64) ([]int, error) {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's lock table: %w", err)
	}
	defer f.Close()
	return parseLocks(f, dev, ino)
}

// parseLocks reads a /proc/locks table:
//
//	1: FLOCK  ADVISORY  WRITE 15817 fe:00:9979271 0 EOF
//	2: -> FLOCK  ADVISORY  WRITE 15820 fe:00:9979271 0 EOF   (a waiter)
//
// The device is major:minor in hex, the inode in decimal.
func parseLocks(r io.Reader, dev, ino uint64) ([]int, error) {
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), ino)
	var pids []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[1] != "FLOCK" || f[3] != "WRITE" || f[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil {
			pids = append(pids, pid)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the kernel's lock table: %w", err)
	}
	return pids, nil
}

// hasOpen reports whether process pid has a descriptor open on the file
// with this device and inode.
func hasOpen(pid int, dev, ino uint64) (bool, error) {
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(fdDir, e.Name()), &st) == nil && st.Dev == dev && st.Ino == ino {
			return true, nil
		}
	}
	return false, nil
}

// CheckPidInPod checks that pid is a process of the pod: one listed in its
// checked cgroup (PodGroup), at any depth; for a rootless pod, which has
// none, one of its PID namespace (PodPidNS). It returns a *BadPidError if
// pid fails.
func CheckPidInPod(p *lifecycle.Pod, pid int) error {
	if pid <= 1 {
		return &BadPidError{pid, "is not a process podctl signals"}
	}
	g, err := PodGroup(p)
	if err != nil {
		return err
	}
	if g == nil && rootless.Inside() {
		ns, err := PodPidNS(p)
		if err != nil {
			return err
		}
		return CheckPidInPodNS(ns, pid)
	}
	if g == nil {
		return &BadPidError{pid, "is not in the pod's cgroup: the pod has none"}
	}
	for _, d := range g.Dirs {
		pids, err := (&cgroup.Group{Dirs: []string{d}}).Procs()
		if err != nil {
			return err
		}
		if slices.Contains(pids, pid) {
			return nil
		}
	}
	return &BadPidError{pid, "is not a process of the pod's cgroup"}
}

// A pod of an ordinary user (rootless.Inside) has no cgroup: its
// processes are proven the pod's by their PID namespace instead. The
// pod's init is the child of its stage1 (proven by CheckStage1Pid, which
// needs no cgroup) that is PID 1 of a namespace of its own, and every
// process of that namespace is the pod's: no app can make a process
// outside it, nor move one in from outside. What the pod can write (its
// pid files) only says which of those to enter.

// PodPidNS returns the inode of a running rootless pod's PID namespace.
func PodPidNS(p *lifecycle.Pod) (uint64, error) {
	pid, err := p.Pid()
	if err != nil {
		return 0, &BadPidError{Pid: 0, Problem: err.Error()}
	}
	if err := CheckStage1Pid(p, pid); err != nil {
		return 0, err
	}
	own, err := pidNS(pid)
	if err != nil {
		return 0, fmt.Errorf("reading the PID namespace of pod %s: %w", p.UUID, err)
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(f)
			if err != nil || innermostPid(c) != 1 {
				continue
			}
			if ns, err := pidNS(c); err == nil && ns != own {
				return ns, nil
			}
		}
	}
	return 0, fmt.Errorf("pod %s has no init running", p.UUID)
}

// CheckPidInPodNS checks that pid is a process of the rootless pod whose
// PID namespace is ns (PodPidNS).
func CheckPidInPodNS(ns uint64, pid int) error {
	if pid <= 1 {
		return &BadPidError{pid, "is not a process podctl signals"}
	}
	got, err := pidNS(pid)
	if err != nil || got != ns {
		return &BadPidError{pid, "is not a process of the pod's PID namespace"}
	}
	return nil
}

// HostPidInNS returns the pid of the process that is nsPid in the PID
// namespace ns, 0 if there is none.
func HostPidInNS(ns uint64, nsPid int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, err := pidNS(pid); err == nil && got == ns && innermostPid(pid) == nsPid {
			return pid
		}
	}
	return 0
}

// pidNS is the inode of process pid's PID namespace.
func pidNS(pid int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// innermostPid is process pid's pid in its innermost PID namespace, 0 if
// it cannot be read.
func innermostPid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.Atoi(f[len(f)-1])
				return n
			}
		}
	}
	return 0
}
