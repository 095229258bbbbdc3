package store

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// extractor writes the rootfs entries of an ACI into a folder. It trusts no
// name: every parent folder is opened with openat2(RESOLVE_BENEATH|
// RESOLVE_NO_SYMLINKS), or by a walk of O_NOFOLLOW openat calls where the
// kernel has no openat2, and every entry is created relative to its parent's
// descriptor without following a symlink. So an archive cannot write through
// a symlink nor outside the folder, even one the validator would let through.
type extractor struct {
	root    int // descriptor of the rootfs folder
	noAt2   bool
	dirs    []dirAttrs // directory entries, whose attributes are set last
	copyBuf []byte
}

// dirAttrs are the attributes of a directory entry, applied once every entry
// is written since writing into a directory changes its mtime.
type dirAttrs struct {
	name string // entry name, for errors
	rel  string // path relative to rootfs, "" for rootfs itself
	hdr  *tar.Header
}

func newExtractor(rootfs string) (*extractor, error) {
	fd, err := unix.Open(rootfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	return &extractor{root: fd, copyBuf: make([]byte, 256<<10)}, nil
}

func (x *extractor) close() error {
	return unix.Close(x.root)
}

// beneathError turns the errors of a path resolution that met a symlink, a
// non-directory or an escape into an error wrapping ErrInvalid.
func beneathError(name, rel string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOTDIR):
		return invalidEntry(name, "goes through a symlink or a non-directory (%q: %v)", rel, err)
	}
	return fmt.Errorf("extracting %q: %w", name, err)
}

// openDir opens the folder rel (relative to rootfs, "" for rootfs) without
// following any symlink and without leaving rootfs; with create set, missing
// folders are made (0755, as tar does for parents not in the archive).
func (x *extractor) openDir(name, rel string, create bool) (int, error) {
	if rel == "" {
		fd, err := unix.Dup(x.root)
		if err != nil {
			return -1, fmt.Errorf("extracting %q: %w", name, err)
		}
		return fd, nil
	}
	if !x.noAt2 {
		fd, err := unix.Openat2(x.root, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOSYS):
			x.noAt2 = true // kernel before 5.6: walk instead
		case errors.Is(err, unix.ENOENT) && create:
			// walk, making the missing folders
		default:
			return -1, beneathError(name, rel, err)
		}
	}
	return x.walkDir(name, rel, create)
}

// walkDir opens rel one component at a time with O_NOFOLLOW. Names were
// cleaned (no "..", not absolute), so each step stays below rootfs.
func (x *extractor) walkDir(name, rel string, create bool) (int, error) {
	cur, err := unix.Dup(x.root)
	if err != nil {
		return -1, fmt.Errorf("extracting %q: %w", name, err)
	}
	for _, c := range strings.Split(rel, "/") {
		fd, err := unix.Openat(cur, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(cur, c, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				// mkdir obeys the umask; a parent tar did not describe is 0755.
				if err = unix.Fchmodat(cur, c, 0o755, 0); err == nil {
					fd, err = unix.Openat(cur, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				}
			}
		}
		unix.Close(cur)
		if err != nil {
			return -1, beneathError(name, rel, err)
		}
		cur = fd
	}
	return cur, nil
}

// entry writes one rootfs entry. name is the entry's name in the archive
// (for errors), rel its cleaned path relative to rootfs.
func (x *extractor) entry(hdr *tar.Header, name, rel string, kind entryKind, r io.Reader) error {
	if kind == kindDevice || kind == kindSkip {
		return nil // device nodes come from stage1, never from an image
	}
	if rel == "" {
		if kind != kindDir {
			return invalidEntry(name, "is rootfs but not a directory")
		}
		x.dirs = append(x.dirs, dirAttrs{name: name, rel: rel, hdr: hdr})
		return nil
	}
	dir, base := path.Split(rel)
	pfd, err := x.openDir(name, strings.TrimSuffix(dir, "/"), true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	switch kind {
	case kindDir:
		err = unix.Mkdirat(pfd, base, 0o700)
		if errors.Is(err, unix.EEXIST) {
			var st unix.Stat_t
			if err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return invalidEntry(name, "replaces an earlier entry that is not a directory")
			}
		}
		if err != nil {
			return fmt.Errorf("extracting %q: %w", name, err)
		}
		x.dirs = append(x.dirs, dirAttrs{name: name, rel: rel, hdr: hdr})
		return nil
	case kindFile:
		return x.file(pfd, base, hdr, name, r)
	case kindSymlink:
		err = unix.Symlinkat(hdr.Linkname, pfd, base)
	case kindHardlink:
		return x.hardlink(pfd, base, hdr, name) // it shares its target's attributes
	case kindFifo:
		if err = unix.Mkfifoat(pfd, base, 0o600); err == nil {
			err = unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0)
		}
	default:
		return invalidEntry(name, "has unsupported type %q", hdr.Typeflag)
	}
	if errors.Is(err, unix.EEXIST) {
		return invalidEntry(name, "appears twice or replaces an earlier entry")
	}
	if err != nil {
		return fmt.Errorf("extracting %q: %w", name, err)
	}
	// Symlinks and fifos: owner and times, without following the entry.
	if err := chownMapped(hdr, func(uid, gid int) error {
		return unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}); err != nil {
		return fmt.Errorf("extracting %q: setting owner: %w", name, err)
	}
	if err := unix.UtimesNanoAt(pfd, base, entryTimes(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("extracting %q: setting times: %w", name, err)
	}
	return nil
}

// file writes a regular file and its attributes through its own descriptor.
// The order matters: chown clears setuid bits and file capabilities, so the
// mode and the extended attributes come after it.
func (x *extractor) file(pfd int, base string, hdr *tar.Header, name string, r io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EEXIST) {
		return invalidEntry(name, "appears twice or replaces an earlier entry")
	}
	if err != nil {
		return fmt.Errorf("extracting %q: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// Runs of zeros become holes: a sparse entry stays sparse.
	sw := newSparseWriter(f)
	if _, err := io.CopyBuffer(sw, r, x.copyBuf); err != nil {
		return fmt.Errorf("extracting %q: %w", name, err)
	}
	if err := sw.finish(); err != nil {
		return fmt.Errorf("extracting %q: %w", name, err)
	}
	if err := setAttrs(fd, hdr); err != nil {
		return fmt.Errorf("extracting %q: %w", name, err)
	}
	if err := unix.UtimesNanoAt(pfd, base, entryTimes(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("extracting %q: setting times: %w", name, err)
	}
	return f.Close()
}

// hardlink links base to the earlier entry hdr.Linkname, both resolved
// beneath rootfs; linkat without AT_SYMLINK_FOLLOW links a symlink itself,
// never what it points at.
func (x *extractor) hardlink(pfd int, base string, hdr *tar.Header, name string) error {
	target, err := cleanName(name, hdr.Linkname)
	if err != nil {
		return err
	}
	trel, ok := rootfsRel(target)
	if !ok || trel == "" {
		return invalidEntry(name, "is a hard link to %q, outside rootfs/", hdr.Linkname)
	}
	tdir, tbase := path.Split(trel)
	tfd, err := x.openDir(name, strings.TrimSuffix(tdir, "/"), false)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	err = unix.Linkat(tfd, tbase, pfd, base, 0)
	switch {
	case errors.Is(err, unix.EEXIST):
		return invalidEntry(name, "appears twice or replaces an earlier entry")
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EPERM):
		return invalidEntry(name, "is a hard link to %q, which is not an earlier file of the archive", hdr.Linkname)
	case err != nil:
		return fmt.Errorf("extracting %q: %w", name, err)
	}
	return nil
}

// finish sets the attributes of the directory entries, now that nothing
// else will be written into them.
func (x *extractor) finish() error {
	for _, d := range x.dirs {
		fd, err := x.openDir(d.name, d.rel, false)
		if err != nil {
			return err
		}
		err = setAttrs(fd, d.hdr)
		if err == nil {
			err = unix.Futimes(fd, timevals(entryTimes(d.hdr)))
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("extracting %q: %w", d.name, err)
		}
	}
	return nil
}

// setAttrs sets owner, mode (with setuid, setgid and sticky bits) and the
// extended attributes of the archive (PAX SCHILY.xattr records) on fd.
func setAttrs(fd int, hdr *tar.Header) error {
	if err := chownMapped(hdr, func(uid, gid int) error { return unix.Fchown(fd, uid, gid) }); err != nil {
		return fmt.Errorf("setting owner: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("setting mode: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattr)
		if !ok {
			continue
		}
		err := unix.Fsetxattr(fd, attr, []byte(v), 0)
		if err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("setting extended attribute %s: %w", attr, err)
		}
	}
	return nil
}

// paxXattr prefixes the PAX records that carry extended attributes.
const paxXattr = "SCHILY.xattr."

// entryTimes returns the access and modification times of an entry; an
// archive without an access time gets its modification time for both.
func entryTimes(hdr *tar.Header) []unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return []unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	return unix.NsecToTimespec(t.UnixNano())
}

func timevals(ts []unix.Timespec) []unix.Timeval {
	tv := make([]unix.Timeval, len(ts))
	for i, t := range ts {
		tv[i] = unix.NsecToTimeval(unix.TimespecToNsec(t))
	}
	return tv
}

// nextEntry is tr.Next for every reader of image tar streams: a name Go's
// reader finds insecure (GODEBUG=tarinsecurepath=0) is refused as the
// extractor refuses one, naming the entry.
func nextEntry(tr *tar.Reader) (*tar.Header, error) {
	hdr, err := tr.Next()
	if err != nil && hdr != nil && errors.Is(err, tar.ErrInsecurePath) {
		return nil, invalidEntry(hdr.Name, "has an insecure path")
	}
	return hdr, err
}

// chownMapped gives an entry its owner with chown. In a user namespace
// (an ordinary user's podctl, internal/rootless) an id beyond the user's
// subordinate range has no mapping, and chown refuses it (EINVAL): the
// entry then keeps the pod's root, the extracting user, as owner.
func chownMapped(hdr *tar.Header, chown func(uid, gid int) error) error {
	err := chown(hdr.Uid, hdr.Gid)
	if err == unix.EINVAL {
		return chown(0, 0)
	}
	return err
}
