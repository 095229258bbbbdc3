package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// JoinThread prepares the calling thread to start a process inside the
// cgroup folders dirs, for a caller that cannot run code in its child
// between fork and exec (a Go program). v1 cgroups hold threads one by
// one, so the thread itself moves into each v1 folder and its children
// are born there. A folder of the unified hierarchy cannot take one thread
// of a process, so JoinThread opens it instead and returns its descriptor,
// to start the child with CLONE_INTO_CGROUP (os/exec's UseCgroupFD); -1
// when there is none. Where one of dirs is below another, the deeper one
// wins. The caller must have locked the goroutine to its thread, and must
// let that thread end with the goroutine.
func JoinThread(dirs []string) (v2fd int, err error) {
	g := &Group{Dirs: dirs}
	v2fd = -1
	for _, d := range dirs {
		if g.hasBelow(d) {
			continue
		}
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err != nil {
			return -1, fmt.Errorf("joining cgroup %s: %w", d, err)
		}
		if st.Type == unix.CGROUP2_SUPER_MAGIC {
			if v2fd >= 0 {
				unix.Close(v2fd)
			}
			v2fd, err = unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, fmt.Errorf("joining cgroup %s: %w", d, err)
			}
			continue
		}
		// "0" is the writing thread.
		if err := os.WriteFile(filepath.Join(d, "tasks"), []byte("0"), 0); err != nil {
			if v2fd >= 0 {
				unix.Close(v2fd)
			}
			return -1, fmt.Errorf("joining cgroup %s: %w", d, err)
		}
	}
	return v2fd, nil
}

// StartIn starts cmd as a process of the cgroup folder dir. In the unified
// hierarchy the process is born there (CLONE_INTO_CGROUP); in a v1 one it
// is moved there by the returned join, which the caller calls at once,
// before waiting for cmd: a v1 cgroup cannot be entered at birth.
func StartIn(cmd *exec.Cmd, dir string) (join func() error, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		f, err := os.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", dir, err)
		}
		defer f.Close()
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(f.Fd())
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return func() error { return nil }, nil
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() error {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("joining cgroup %s: %w", dir, err)
		}
		return nil
	}, nil
}

// ThreadHome is where a process's threads are in each v1 hierarchy, for a
// thread that has joined an app's folders (JoinThread) to go back to once
// it has forked the app (LeaveLater): a thread left in an app's memory cgroup
// makes its whole process a candidate when that cgroup runs out of memory.
type ThreadHome struct {
	mounts []Mount
	own    map[string]string
}

// HomeOfProcess reads the v1 cgroup folders of this process (its first
// thread's), where a thread goes back to.
func HomeOfProcess() (*ThreadHome, error) {
	mounts, own, err := readSelf()
	if err != nil {
		return nil, err
	}
	return &ThreadHome{mounts: mounts, own: own}, nil
}

// LeaveLater opens, for the calling thread to go back to later (Join on
// the result), its process's folder in each v1 hierarchy of dirs:
// opened, as the thread's root may change before it goes back. Folders
// of the unified hierarchy, which the thread never joins, are left
// alone.
func (h *ThreadHome) LeaveLater(dirs []string) (*DeferredJoin, error) {
	return deferJoin(h.homes(dirs))
}

// homes is where a thread goes back to from dirs: its home folder in each
// v1 hierarchy of dirs.
func (h *ThreadHome) homes(dirs []string) []string {
	var homes []string
	done := map[string]bool{}
	for _, d := range dirs {
		m := hierarchyIn(h.mounts, d)
		if m == nil || m.V2 || done[m.Dir] {
			continue
		}
		done[m.Dir] = true
		if p, ok := h.own[strings.Join(m.Controllers, ",")]; ok {
			homes = append(homes, filepath.Join(m.Dir, p))
		}
	}
	return homes
}
