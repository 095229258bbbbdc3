// Package fsutil holds the few file-system helpers that podctl's packages
// share: crash-safe writes, directory syncs, and reads of files a pod may
// have put in place.
//
// A write that must survive a power cut goes through WriteFile: the data is
// written to a temporary file in the same folder, fsynced, renamed over the
// target and the folder is fsynced, so a reader sees either the old file or
// the whole new one, before and after a crash.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// WriteFile atomically replaces path with data. With durable set, the file
// and its folder are fsynced so the new content survives a power cut; without
// it the replacement is still atomic for concurrent readers, which is all some
// files (an exit status of a process that is gone anyway) need. The
// temporary file, .BASE.tmp-N beside path, is made with raw calls, not an
// *os.File (which costs four calls more, to find it cannot be polled): a
// pod's start writes ten files.
func WriteFile(path string, data []byte, perm os.FileMode, durable bool) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	fd, tmp, err := createTemp(dir, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
		if !renamed {
			unix.Unlink(tmp)
		}
	}()
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, &fs.PathError{Op: "write", Path: tmp, Err: err})
		}
		b = b[n:]
	}
	// Exactly perm, whatever the umask.
	if err := unix.Fchmod(fd, uint32(perm.Perm())); err != nil {
		return fmt.Errorf("writing %s: %w", path, &fs.PathError{Op: "chmod", Path: tmp, Err: err})
	}
	if durable {
		if err := unix.Fsync(fd); err != nil {
			return fmt.Errorf("syncing %s: %w", path, &fs.PathError{Op: "fsync", Path: tmp, Err: err})
		}
	}
	err = unix.Close(fd)
	fd = -1
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, &fs.PathError{Op: "close", Path: tmp, Err: err})
	}
	if err := unix.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err})
	}
	renamed = true
	if durable {
		return SyncDir(dir)
	}
	return nil
}

// createTemp makes a new file dir/prefixN, N random, for writing only,
// mode 0600 until its writer sets it.
func createTemp(dir, prefix string) (fd int, path string, err error) {
	for try := 0; ; try++ {
		path = filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		switch {
		case err == nil:
			return fd, path, nil
		case err == unix.EINTR:
		case err == unix.EEXIST && try < 100:
		default:
			return -1, "", &fs.PathError{Op: "open", Path: path, Err: err}
		}
	}
}

// SyncDir fsyncs a folder so that the entries created, renamed or removed in
// it are on disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing folder %s: %w", dir, err)
	}
	return nil
}

// OpenReadAt opens name below the folder open as dirfd to read it as
// ReadSmallAt and ReadRegularAt do: without following a link at its end,
// without blocking on a FIFO, and without updating its access time. An
// access time podctl never reads costs a write to the disk's journal for
// each file first read after it was written, which is every file of every
// pod gc marks; O_NOATIME needs the file's owner or CAP_FOWNER, so a
// process refused it opens the file again without.
func OpenReadAt(dirfd int, name string) (int, error) {
	const flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_NOATIME, 0)
		if err == unix.EPERM {
			fd, err = unix.Openat(dirfd, name, flags, 0)
		}
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// ErrTooLong is a file longer than its reader takes (ReadRegularAt).
var ErrTooLong = errors.New("longer than expected")

// smallFile is the buffer ReadSmallAt reads into: a pod's summary, its
// layout and flavor files and most manifests fit.
const smallFile = 4096

// ReadSmallAt is ReadRegularAt for a file that podctl alone writes, in a
// folder no app of any flavor can write (a pod's own files, never its
// apps' folders): one read(2) into a buffer on the stack, copied out at
// the size read, without the fstat that tells a regular file from
// another and sizes the buffer (a call a file; list and gc read one or
// two such files of every pod). O_NONBLOCK still keeps a FIFO from
// blocking it and O_NOFOLLOW a link from being followed; a regular
// file's read falls short only at its end. A file that fills the buffer
// is read again by ReadRegularAt.
func ReadSmallAt(dirfd int, name string, max int) ([]byte, error) {
	fd, err := OpenReadAt(dirfd, name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var buf [smallFile]byte
	var n int
	for {
		n, err = unix.Read(fd, buf[:])
		if err != unix.EINTR {
			break
		}
	}
	unix.Close(fd)
	switch {
	case err != nil:
		return nil, err
	case n == len(buf):
		return ReadRegularAt(dirfd, name, max)
	case max > 0 && n > max:
		return nil, ErrTooLong
	}
	b := make([]byte, n)
	copy(b, buf[:n])
	return b, nil
}

// ReadRegularAt reads the regular file name below the folder open as
// dirfd, without following a symbolic link at its end and without
// blocking on a FIFO put there (what a pod can write may be either). The
// buffer holds the size fstat gives and a byte more, so that a file read
// whole in one read(2) needs no other; with max above zero, a file
// longer than max bytes is ErrTooLong, found after reading max+1 of them.
// Raw calls, not an *os.File (an fcntl and an epoll_ctl more): list and gc
// read files of thousands of pods. A failure to open is an *fs.PathError.
func ReadRegularAt(dirfd int, name string, max int) ([]byte, error) {
	fd, err := OpenReadAt(dirfd, name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errors.New("not a regular file")
	}
	// Room for the whole file and a byte more, so that a file read to
	// the size fstat gave in one short read needs no read(2) to say it
	// ended: a regular file's read falls short only at its end. No more
	// than that: list reads a file of each of thousands of pods, and
	// every buffer's pages are touched for the first time.
	want := st.Size + 1
	if max > 0 && want > int64(max)+1 {
		want = int64(max) + 1
	}
	b := make([]byte, 0, want)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := cap(b) - len(b)
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
		if max > 0 && len(b) > max {
			return nil, ErrTooLong
		}
		if n < room && int64(len(b)) >= st.Size {
			return b, nil
		}
	}
}
