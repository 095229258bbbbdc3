// Package passwd resolves an app's user and group in its image's
// /etc/passwd and /etc/group, as stage0 checks them and stage1 uses them.
package passwd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Resolve turns an appc user and group into IDs: a number; a name looked
// up in root's /etc/passwd and /etc/group; or an absolute path, whose
// file's owner (for the user) or group (for the group) is taken, as appc
// says. Files are opened without following any link out of root. An empty
// user or group means root.
func Resolve(root, user, group string) (uid, gid int, err error) {
	uid, err = resolveID(root, user, "etc/passwd", "user")
	if err != nil {
		return 0, 0, err
	}
	gid, err = resolveID(root, group, "etc/group", "group")
	if err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}

// openInRoot opens name as if root were "/", so that links in the image
// resolve inside it. It must be a regular file: the image's FIFO in its
// place would block the open, and a device could be read forever.
func openInRoot(root, name string) (*os.File, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/" + name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		if err == nil {
			err = errors.New("not a regular file")
		}
		return nil, &os.PathError{Op: "open", Path: "/" + name, Err: err}
	}
	return os.NewFile(uintptr(fd), "/"+name), nil
}

func resolveID(root, name, file, what string) (int, error) {
	if name == "" || name == "root" {
		return 0, nil
	}
	if strings.HasPrefix(name, "/") {
		return ownerOf(root, name, what)
	}
	if id, err := strconv.Atoi(name); err == nil {
		if !validID(id) {
			return 0, fmt.Errorf("%s %q is not an id a process can have (0 to %d)", what, name, maxID)
		}
		return id, nil
	}
	f, err := openInRoot(root, file)
	if err != nil {
		return 0, fmt.Errorf("looking up %s %q: %w", what, name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:ID:...
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			id, err := strconv.Atoi(fields[2])
			if err != nil || !validID(id) {
				return 0, fmt.Errorf("looking up %s %q in /%s: bad ID %q", what, name, file, fields[2])
			}
			return id, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("looking up %s %q: %w", what, name, err)
	}
	return 0, fmt.Errorf("no %s %q in the image's /%s", what, name, file)
}

// maxID is the largest user or group id: the kernel's (uid_t)-1 means no
// id, and a change of user to it changes nothing, leaving a helper root.
const maxID = 1<<32 - 2

// validID tells whether id can be a process's user or group id.
func validID(id int) bool { return id >= 0 && id <= maxID }

// ownerOf is the owner (what is "user") or group of the file at path in
// root. The file is never opened for reading: O_PATH is enough to stat it,
// whatever its mode.
func ownerOf(root, path, what string) (int, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, strings.TrimLeft(path, "/"), &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return 0, fmt.Errorf("%s %s: the image has no such file (%w)", what, path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if what == "user" {
		return int(st.Uid), nil
	}
	return int(st.Gid), nil
}
