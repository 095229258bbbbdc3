package cgroup

import (
	"fmt"
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
// passes CheckPodDir's checks as the file is opened: one openat2 from
// the hierarchy's mount point (rootOf) through no link and no mount
// point, then an fstatfs of the file opened, so that nothing but the
// cgroup file is read (list asks this of every running pod). A folder not
// there is an error wrapping fs.ErrNotExist, one that fails the checks a
// *BadRecordError.
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
	fd, err := c.openFreezer(m, dir, uuid, file, bad)
	if err != nil || fd < 0 {
		if err == nil {
			// Looked at without openat2: read as Frozen reads it.
			return (&Group{Dirs: []string{dir}}).Frozen()
		}
		return false, err
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

// openFreezer opens the freezer file of dir, in hierarchy m, for
// ReadFreezer; -1 with no error where openat2 is refused (the folder was
// looked at by lookAtPath instead).
func (c *Checker) openFreezer(m *Mount, dir, uuid, file string, bad func(string, ...any) error) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	}
	root := c.rootOf(m)
	if root < 0 {
		// The folder first, from /, then the file beneath it.
		dfd, err := c.openDir(m, dir, uuid, bad)
		if err != nil || dfd < 0 {
			return -1, err
		}
		defer unix.Close(dfd)
		return c.openChecked(dfd, file, how, dir, uuid, bad)
	}
	// A folder not there, or no freezer file in it, is ENOENT: nothing is
	// frozen there either way.
	return c.openChecked(root, relTo(m, dir)+"/"+file, how, dir, uuid, bad)
}
