package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"podctl/datadir"
	"podctl/internal/errdefs"
)

// NewNetNS makes a persistent network namespace for pod uuid, bind-mounted
// at DATA/netns/<uuid>, with its loopback up, and returns its path.
//
// It is made the way `ip netns add` makes one: a thread of its own (the
// network namespace is a thread's) unshares, the namespace is bind-mounted
// from /proc/self/task/TID/ns/net, and the thread goes back to the host's
// namespace. A thread that cannot go back stays locked, parked for good.
func (e Env) NewNetNS(uuid string) (string, error) {
	if !validName(uuid) {
		return "", errdefs.New(errdefs.ErrInvalid, "making a network namespace: %q is not a pod UUID", uuid)
	}
	dir := datadir.NetNSDir(e.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("making the network namespace of pod %s: %w", uuid, err)
	}
	path := filepath.Join(dir, uuid)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return "", fmt.Errorf("making the network namespace of pod %s: %w", uuid, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := bindNewNetNS(path)
		errc <- err
		if !back {
			// Parked for good rather than ended: a thread that ends takes
			// with it the children it forked with a parent-death signal
			// (stage1's, started from any thread).
			select {}
		}
		runtime.UnlockOSThread()
	}()
	if err := <-errc; err != nil {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return "", fmt.Errorf("making the network namespace of pod %s: %w", uuid, err)
	}
	return path, nil
}

// bindNewNetNS runs on a locked thread: it moves the thread to a new
// network namespace, brings its loopback up, bind-mounts it at path and
// moves the thread back. back says whether it is back.
func bindNewNetNS(path string) (back bool, err error) {
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	orig, err := os.Open(self)
	if err != nil {
		return true, err
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("unshare: %w", err)
	}
	err = LoopbackUp()
	if err == nil {
		if merr := unix.Mount(self, path, "none", unix.MS_BIND, ""); merr != nil {
			err = fmt.Errorf("bind-mounting it: %w", merr)
		}
	}
	if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr != nil {
		return false, errors.Join(err, fmt.Errorf("going back to the host's namespace: %w", serr))
	}
	return true, err
}

// LoopbackUp brings up lo in the calling thread's network namespace.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err == nil {
		err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr)
	}
	if err == nil {
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	}
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	return nil
}

// RemoveNetNS unmounts and removes the network namespace of pod uuid. One
// that is not there is no error.
func (e Env) RemoveNetNS(uuid string) error {
	if !validName(uuid) {
		return errdefs.New(errdefs.ErrInvalid, "removing a network namespace: %q is not a pod UUID", uuid)
	}
	path := filepath.Join(datadir.NetNSDir(e.DataDir), uuid)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing the network namespace of pod %s: unmounting: %w", uuid, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the network namespace of pod %s: %w", uuid, err)
	}
	return nil
}

// isNetNS says whether path is a namespace file (nsfs), as a bind-mounted
// network namespace is.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}
