package cgroup

import (
	"fmt"
	"os"
	"path/filepath"

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
