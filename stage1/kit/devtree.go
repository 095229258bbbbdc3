package kit

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/internal/rootless"
)

// DevTree is an app's /dev made before its root: a detached tmpfs (no
// mount namespace shows it) holding the app's device nodes and links,
// which SetUpDev moves onto the root's /dev. stage1 makes it while the
// init starts (SendAhead); a thread that makes its own does it outside the
// app's v1 device cgroup, which refuses mknod.
type DevTree struct{ fd int }

// errNoTree says that the nodes cannot be made ahead: SetUpDev makes them.
var errNoTree = errors.New("no /dev made ahead")

// MakeDevTree makes app s's /dev as a detached tmpfs with the usual
// device nodes and links and the pod's devices. It returns nil, and no
// error, where the nodes are made on the root instead: a pod with private
// users (its root is given the nodes, and the tmpfs its uid), and a
// rootless one (mknod is refused, and the nodes are binds).
func MakeDevTree(s *AppSpec) (*DevTree, error) {
	if s.Users != nil || rootless.Inside() {
		return nil, nil
	}
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("making /dev: %w", err)
	}
	defer unix.Close(fsfd)
	for _, o := range [][2]string{{"source", "tmpfs"}, {"mode", "755"}, {"size", "65536k"}} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return nil, fmt.Errorf("making /dev: %s=%s: %w", o[0], o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("making /dev: %w", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_STRICTATIME)
	if err != nil {
		return nil, fmt.Errorf("making /dev: %w", err)
	}
	t := &DevTree{fd: fd}
	if err := t.fill(s); err != nil {
		t.Close()
		if err == errNoTree {
			return nil, nil
		}
		return nil, err
	}
	return t, nil
}

// fill makes the nodes and links in the tree; errNoTree if mknod is
// refused. Each node is given its mode after it is made, rather than
// under a umask of 0: the umask is the whole process's where its threads
// share their file system attributes (stage1's: SendAhead).
func (t *DevTree) fill(s *AppSpec) error {
	mknod := func(rel string, mode uint32, rdev uint64) error {
		err := unix.Mknodat(t.fd, rel, mode, int(rdev))
		if err == unix.EPERM {
			return errNoTree
		}
		if err == nil {
			err = unix.Fchmodat(t.fd, rel, mode&0o7777, 0)
		}
		if err != nil {
			return fmt.Errorf("making /dev/%s: %w", rel, err)
		}
		return nil
	}
	for _, d := range devices {
		if err := mknod(d.name, unix.S_IFCHR|0o666, unix.Mkdev(d.major, d.minor)); err != nil {
			return err
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlinkat(l[0], t.fd, l[1]); err != nil {
			return fmt.Errorf("making /dev/%s: %w", l[1], err)
		}
	}
	for _, d := range s.Devices {
		// Checked below /dev when the pod was made (stage1.CheckDevicePath).
		rel, ok := strings.CutPrefix(filepath.Clean(d.Path), "/dev/")
		if !ok || rel == "" || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("device %s is not below /dev", d.Path)
		}
		if err := t.mkdirAll(filepath.Dir(rel)); err != nil {
			return fmt.Errorf("making %s: %w", d.Path, err)
		}
		typ := uint32(unix.S_IFCHR)
		if d.Type == "b" {
			typ = unix.S_IFBLK
		}
		if err := mknod(rel, typ|d.Mode, unix.Mkdev(d.Major, d.Minor)); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAll makes folder rel and its parents in the tree, following no
// link: the tree holds only what fill made.
func (t *DevTree) mkdirAll(rel string) error {
	if rel == "." {
		return nil
	}
	if err := t.mkdirAll(filepath.Dir(rel)); err != nil {
		return err
	}
	if err := unix.Mkdirat(t.fd, rel, 0o755); err != nil && err != unix.EEXIST {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(t.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("/dev/%s is not a folder", rel)
	}
	return nil
}

// attach moves the tree onto the /dev of the app's root (made without
// following links), then mounts the app's own terminals, shared memory and
// message queues in it.
func (t *DevTree) attach(root string, s *AppSpec) error {
	if err := MkdirInRoot(root, "dev"); err != nil {
		return err
	}
	dev := filepath.Join(root, "dev")
	if err := unix.MoveMount(t.fd, "", unix.AT_FDCWD, dev, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	return devSubmounts(dev, s)
}

// Close lets go of the tree; unattached, it goes with its descriptor.
func (t *DevTree) Close() {
	if t != nil && t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}
