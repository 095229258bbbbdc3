package cgroup

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// CanFreeze reports whether dir is in a hierarchy that can freeze it,
// going by the mounts the checker read: the unified hierarchy, or a v1
// hierarchy with the freezer controller. It looks at the path only; a
// folder it says yes to still needs CheckPodDir before it is read or
// acted on.
func (c *Checker) CanFreeze(dir string) bool {
	m := c.hierarchyOf(dir)
	return m != nil && (m.V2 || slices.Contains(m.Controllers, "freezer"))
}

// Unified reports whether dir is in the unified hierarchy, going by the
// mounts the checker read.
func (c *Checker) Unified(dir string) bool {
	m := c.hierarchyOf(dir)
	return m != nil && m.V2
}

// ReadFreezer reads whether pod uuid's folder dir (one of its records,
// CanFreeze) is told to freeze, as Group.Frozen does: its cgroup.freeze
// in the unified hierarchy, its freezer.state in a v1 one. The folder
// passes CheckPodDir's checks first, as it is opened (lookAt's openat2
// and fstatfs), and the file is opened from it through no link and no
// mount point, so that nothing but the cgroup file is opened (list asks
// this of every running pod). A folder not there is an error wrapping
// fs.ErrNotExist, one that fails the checks a *BadRecordError.
func (c *Checker) ReadFreezer(dir, uuid string) (bool, error) {
	m, err := c.checkPath(dir, uuid, false)
	if err != nil {
		return false, err
	}
	bad := badDir(dir)
	file, thawed := "freezer.state", "THAWED"
	switch {
	case m.V2:
		file, thawed = "cgroup.freeze", "0"
	case !slices.Contains(m.Controllers, "freezer"):
		return false, bad("is in a hierarchy without a freezer")
	}
	dfd, err := c.openDir(dir, uuid, bad)
	if err != nil {
		return false, err
	}
	if dfd < 0 {
		// Looked at without openat2: read as Frozen reads it.
		return (&Group{Dirs: []string{dir}}).Frozen()
	}
	defer unix.Close(dfd)
	path := filepath.Join(dir, file)
	fd, err := unix.Openat2(dfd, file, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return false, fmt.Errorf("reading freezer of cgroup %s: %w", dir, &fs.PathError{Op: "openat2", Path: path, Err: err})
	}
	defer unix.Close(fd)
	var buf [64]byte
	n, err := unix.Read(fd, buf[:])
	for err == unix.EINTR {
		n, err = unix.Read(fd, buf[:])
	}
	if err != nil {
		return false, fmt.Errorf("reading freezer of cgroup %s: %w", dir, err)
	}
	return strings.TrimSpace(string(buf[:n])) != thawed, nil
}
