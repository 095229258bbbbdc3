package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Leaving the app's root, and reaching the pod's PID 1 and podctl's files.

// chrootEscape is the classic escape from a chroot: chroot into a folder
// below the working directory, climb with "..", chroot there. Below a
// pivot_root the climb ends at the app's own root.
func chrootEscape(c *config) verdict {
	const way = "chroot-escape"
	if c.markerSeen(c.marker) {
		return escaped(way, "the host's marker %s is visible from the app's root", c.marker)
	}
	before, err := statID("/")
	if err != nil {
		return broken(way, "stat /: %v", err)
	}
	dir := fmt.Sprintf("/tmp/hostile-chroot-%d", os.Getpid())
	if err := os.Mkdir(dir, 0o700); err != nil {
		return broken(way, "making %s: %v", dir, err)
	}
	defer os.Remove(dir)
	if err := unix.Chdir("/"); err != nil {
		return broken(way, "chdir /: %v", err)
	}
	if err := unix.Chroot(dir); err != nil {
		return blocked(way, "chroot: %s %s", errName(err), confinement())
	}
	for i := 0; i < 64; i++ {
		unix.Chdir("..")
	}
	if err := unix.Chroot("."); err != nil {
		return blocked(way, "second chroot: %s %s", errName(err), confinement())
	}
	if c.markerSeen(c.marker) {
		return escaped(way, "left the app's root and read the host's marker %s", c.marker)
	}
	after, err := statID("/")
	if err != nil {
		return broken(way, "stat / after the climb: %v", err)
	}
	if after != before {
		top, _ := os.ReadDir("/")
		var names []string
		for _, e := range top {
			names = append(names, e.Name())
		}
		return escaped(way, "left the app's root for another tree (/ is %s, was %s; it holds %s)", after, before, strings.Join(names, " "))
	}
	return blocked(way, "the climb ends at the app's own root: pivot_root")
}

// podctlFiles looks for the podctl binary (by its device and inode) and
// for a pod directory (a folder with a pod manifest in `pod`) where an app
// might find them: stage1's own paths, and through every process it sees.
func podctlFiles(c *config) verdict {
	const way = "podctl-files"
	if c.podctl == "" {
		return broken(way, "-podctl DEV:INO not given")
	}
	bins := []string{"/podctl/podctl"}
	dirs := []string{"/podctl/pod", "/podctl"}
	for _, p := range pids() {
		proc := fmt.Sprintf("/proc/%d", p)
		bins = append(bins, proc+"/exe")
		dirs = append(dirs, proc+"/cwd", proc+"/root/podctl/pod")
		if c.datadir != "" {
			dirs = append(dirs, proc+"/root"+c.datadir)
		}
	}
	var refused []string
	for _, b := range bins {
		id, err := statID(b)
		if err != nil {
			if !isErrno(err, unix.ENOENT, unix.ESRCH) {
				refused = append(refused, b+": "+errName(err))
			}
			continue
		}
		if id != c.podctl {
			continue
		}
		write := "opened"
		if f, err := os.OpenFile(b, os.O_WRONLY, 0); err != nil {
			write = errName(err)
		} else {
			f.Close()
		}
		return escaped(way, "podctl's binary is reachable at %s (open for writing: %s)", b, write)
	}
	for _, d := range dirs {
		if isPodDir(d) {
			return escaped(way, "a pod directory is reachable at %s", d)
		}
		if isDataDir(d) {
			return escaped(way, "podctl's data directory is reachable at %s", d)
		}
		if _, err := os.Stat(d); err != nil && !isErrno(err, unix.ENOENT, unix.ESRCH) {
			refused = append(refused, d+": "+errName(err))
		}
	}
	if len(refused) > 6 {
		refused = append(refused[:6], fmt.Sprintf("and %d more", len(refused)-6))
	}
	return blocked(way, "neither the binary nor a pod directory found; refused: %s", strings.Join(refused, ", "))
}

// isPodDir reports whether dir holds a pod manifest, as a pod directory does.
func isPodDir(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "pod"))
	return err == nil && strings.Contains(string(b), "PodManifest")
}

// isDataDir reports whether dir looks like podctl's data directory.
func isDataDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "pods"))
	return err == nil && st.IsDir()
}

// ptraceInit seizes the target (PID 1 of the pod) without stopping it; the
// kernel detaches it when this process exits.
func ptraceInit(c *config) verdict {
	const way = "ptrace-init"
	if c.pid1 == os.Getpid() {
		return broken(way, "the app is PID %d itself", c.pid1)
	}
	runtime.LockOSThread()
	if err := unix.PtraceSeize(c.pid1); err != nil {
		return blocked(way, "PTRACE_SEIZE of pid %d: %s %s", c.pid1, errName(err), confinement())
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.pid1))
	return escaped(way, "seized pid %d (%s) with ptrace", c.pid1, strings.TrimSpace(string(comm)))
}

// proc1Root opens the target's root through /proc: PID 1 of a native pod
// is podctl's init, whose root is the host's.
func proc1Root(c *config) verdict {
	const way = "proc1-root"
	root := fmt.Sprintf("/proc/%d/root", c.pid1)
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return blocked(way, "opening %s: %s %s", root, errName(err), confinement())
	}
	defer unix.Close(fd)
	theirs, err := fstatID(fd)
	if err != nil {
		return broken(way, "fstat %s: %v", root, err)
	}
	ours, err := statID("/")
	if err != nil {
		return broken(way, "stat /: %v", err)
	}
	if theirs == ours {
		return blocked(way, "%s is the app's own root", root)
	}
	seen := "not readable there"
	if c.markerSeen(root + c.marker) {
		seen = "read there"
	}
	return escaped(way, "opened %s, another tree (host marker %s)", root, seen)
}

// setnsInit joins the target's mount namespace. A mount namespace can only
// be joined by a thread that shares its file system information with no
// other, so the thread unshares it first and is never used again.
func setnsInit(c *config) verdict {
	const way = "setns-init"
	ns := fmt.Sprintf("/proc/%d/ns/mnt", c.pid1)
	fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blocked(way, "opening %s: %s %s", ns, errName(err), confinement())
	}
	theirs, err := fstatID(fd)
	if err != nil {
		return broken(way, "fstat %s: %v", ns, err)
	}
	ours, err := statID("/proc/self/ns/mnt")
	if err != nil {
		return broken(way, "stat /proc/self/ns/mnt: %v", err)
	}
	if theirs == ours {
		return blocked(way, "pid %d is in the app's own mount namespace: nothing to join", c.pid1)
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return broken(way, "unshare(CLONE_FS): %v", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return blocked(way, "setns into %s: %s %s", ns, errName(err), confinement())
	}
	seen := "not visible there"
	if c.markerSeen(c.marker) {
		seen = "read there"
	}
	return escaped(way, "joined the mount namespace of pid %d (host marker %s)", c.pid1, seen)
}
