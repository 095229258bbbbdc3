package lifecycle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/appc/spec/schema"
	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"podctl/datadir"
	"podctl/events"
	"podctl/internal/errdefs"
	"podctl/internal/flock"
	"podctl/internal/fsutil"
	"podctl/internal/manifest"
)

// Errors that callers tell apart with errors.Is.
var (
	ErrNotFound  = errdefs.ErrNotFound
	ErrAmbiguous = errdefs.ErrInvalid
	ErrBusy      = errdefs.ErrBusy
)

// Pod is one pod directory, opened. Its state is the state seen when it was
// opened (or moved by this process); Refresh looks again.
//
// Every file of the pod is read through the open directory, so a concurrent
// rename of the pod by another process does not break a read half way.
type Pod struct {
	// UUID is the pod's UUID in its canonical lower-case form.
	UUID string

	dataDir string
	folder  folder
	// fd is the open pod directory, whose flock is the pod's lock; dir
	// is it as an *os.File, made when first asked for (LockFile): a walk
	// opens thousands of pods, and each *os.File costs an fcntl.
	fd    int
	dir   *os.File
	state State
	// folderFd, while a walk runs, is the pod's state folder open (else
	// -1): checks of the pod's place look it up there, not by path.
	folderFd int
	// listedIno is the inode number the walk's listing of folderFd gave
	// the pod's name (0 if unknown): a check of its place that finds the
	// name still there with it needs no fstat of the pod.
	listedIno uint64
	// locked is true while this process holds the pod's exclusive lock.
	locked bool
	// unannounced is set when a pod whose preparation failed is discarded:
	// it records no events.
	unannounced bool
	// at, when set, is the pod directory's path in the mount namespace of
	// the process that opened it with OpenAt.
	at string
	// layoutErr is why this podctl must not act on the pod: its layout is
	// newer than it knows, or unreadable (see CheckLayout).
	layoutErr error
	// layoutRead is set once layoutErr holds what the layout file said.
	layoutRead bool
	// appender, if set, records the pod's events (RecordEventsWith).
	appender *events.Appender
}

// Init creates the data directory's pod folders if they are missing.
func Init(dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory %s: %w", dataDir, err)
	}
	for _, name := range folderNames {
		if err := os.MkdirAll(filepath.Join(datadir.PodsDir(dataDir), name), 0o700); err != nil {
			return fmt.Errorf("creating data directory %s: %w", dataDir, err)
		}
	}
	return nil
}

func folderPath(dataDir string, f folder) string {
	return filepath.Join(datadir.PodsDir(dataDir), f.String())
}

// folderPaths caches folderPath of every folder of the last data
// directory asked for: a pod's path is made for every error about one of
// its files, and list meets such errors (files a pod has not written) by
// the thousand.
var folderPaths atomic.Pointer[struct {
	dataDir string
	paths   [numFolders]string
}]

// cachedFolderPath is folderPath, from folderPaths when it holds dataDir.
func cachedFolderPath(dataDir string, f folder) string {
	if c := folderPaths.Load(); c != nil && c.dataDir == dataDir {
		return c.paths[f]
	}
	c := &struct {
		dataDir string
		paths   [numFolders]string
	}{dataDir: dataDir}
	for i := range c.paths {
		c.paths[i] = folderPath(dataDir, folder(i))
	}
	folderPaths.Store(c)
	return c.paths[f]
}

// fileErrPath is the path of file name of pod p for an error: joined
// without filepath.Join's cleaning when name is plain (every name podctl
// reads is).
func (p *Pod) fileErrPath(name string) string {
	if !plainName(name) {
		return filepath.Join(p.Path(), name)
	}
	return p.Path() + "/" + name
}

// plainName reports whether name is a relative path that filepath.Clean
// leaves as it is, with no element that is "." or "..".
func plainName(name string) bool {
	for rest := name; ; {
		e, after, more := strings.Cut(rest, "/")
		if e == "" || e == "." || e == ".." {
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}

// NewPod creates a pod with a fresh UUID and leaves it in the prepare folder,
// exclusively locked by this process: its state is Preparing until ToPrepared
// or ToRun. The caller must Close it.
func NewPod(dataDir string) (*Pod, error) {
	id := uuid.NewString()
	path := filepath.Join(folderPath(dataDir, embryoDir), id)
	if err := os.Mkdir(path, 0o700); err != nil {
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	dir, err := os.Open(path)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	p := &Pod{UUID: id, dataDir: dataDir, folder: embryoDir, fd: int(dir.Fd()), dir: dir, state: Embryo, folderFd: -1}
	if err := flock.Lock(dir, flock.Exclusive); err != nil {
		p.Close()
		os.Remove(path)
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	p.locked = true
	// The creation time is the mtime of an empty file, so reading it needs
	// no parsing and no write of our own format.
	fd, err := unix.Openat(int(dir.Fd()), FileCreated, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		p.Close()
		os.RemoveAll(path)
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	unix.Close(fd)
	if err := writeLayout(path); err != nil {
		p.Close()
		os.RemoveAll(path)
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	// An embryo left behind by a crash is never looked at again but by gc,
	// so this move needs no fsync.
	if err := p.move(Preparing, false); err != nil {
		p.Close()
		os.RemoveAll(path)
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	return p, nil
}

// PodFromUUIDString finds a pod by its full UUID or a unique prefix of it,
// in every state folder but embryo. The pod is returned unlocked; the caller
// must Close it.
func PodFromUUIDString(dataDir, s string) (*Pod, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return nil, errdefs.New(ErrNotFound, "pod UUID cannot be empty")
	}
	id, err := resolveUUID(dataDir, s)
	if err != nil {
		return nil, err
	}
	return openPod(dataDir, id)
}

// resolveUUID expands a UUID prefix to the one pod UUID it names.
func resolveUUID(dataDir, prefix string) (string, error) {
	if _, err := uuid.Parse(prefix); err == nil && len(prefix) == 36 {
		return prefix, nil
	}
	matches := map[string]bool{}
	for f := prepareDir; f < numFolders; f++ {
		names, err := readNames(folderPath(dataDir, f))
		if err != nil {
			return "", err
		}
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				matches[n] = true
			}
		}
	}
	switch len(matches) {
	case 0:
		return "", errdefs.New(ErrNotFound, "no pod matches %q", prefix)
	case 1:
		for id := range matches {
			return id, nil
		}
	}
	return "", errdefs.New(ErrAmbiguous, "%q matches %d pods, give more of the UUID", prefix, len(matches))
}

// dirEntry is a name a folder's listing gave, with its inode number.
type dirEntry struct {
	name string
	ino  uint64
}

// readEntriesOpen lists a folder with the inode number of each name, and
// returns the folder open (a raw descriptor the caller closes), or -1 if
// it does not exist. Raw getdents64 calls: os's listing drops the inode
// numbers, which spare a walk an fstat a pod (checkStillThere).
func readEntriesOpen(dir string) ([]dirEntry, int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return nil, -1, nil
		}
		return nil, -1, fmt.Errorf("listing pods: %w", &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	var out []dirEntry
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return nil, -1, fmt.Errorf("listing pods: %w", &fs.PathError{Op: "getdents", Path: dir, Err: err})
		}
		if n <= 0 {
			return out, fd, nil
		}
		out = parseDirents(buf[:n], out)
	}
}

// parseDirents appends the entries of a getdents64 buffer b (struct
// linux_dirent64: inode, offset, record length, type, name ending in a
// NUL), but "." and "..", to out. A record that does not fit ends it.
func parseDirents(b []byte, out []dirEntry) []dirEntry {
	const nameAt = 19
	for len(b) >= nameAt {
		ino := binary.NativeEndian.Uint64(b[0:8])
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < nameAt || reclen > len(b) {
			break
		}
		name := b[nameAt:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if s := string(name); s != "." && s != ".." {
			out = append(out, dirEntry{s, ino})
		}
		b = b[reclen:]
	}
	return out
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return names, nil
}

// openPod opens the pod with this UUID wherever it is. A pod can move
// between folders while we look, so a miss in one folder is followed by the
// next one in lifecycle order, and the whole search is tried a few times.
func openPod(dataDir, id string) (*Pod, error) {
	for attempt := 0; attempt < 5; attempt++ {
		for f := embryoDir; f < numFolders; f++ {
			p, err := openPodIn(dataDir, f, -1, id, probeLock)
			if err == nil {
				return p, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	return nil, errdefs.New(ErrNotFound, "no pod %s", id)
}

// lockMode is what opening a pod does with its lock.
type lockMode int

const (
	// probeLock tries a shared lock without waiting, to tell the state,
	// and releases it.
	probeLock lockMode = iota
	// holdShared is probeLock keeping the shared lock, when taken, until
	// Close: a reader that looks at the pod a moment and closes it (a
	// walk of list) spares the unlock, which closing does.
	holdShared
	// tryExclusive, for gc, tries the exclusive lock first and keeps it
	// (the pod is passed locked, as TryExclusiveLock leaves it); a pod
	// whose lock is taken is probed as with probeLock.
	tryExclusive
)

// openPodIn opens the pod id in folder f, open as folderFd (or -1: by
// path), and works out its state by trying a lock without waiting, as
// mode says. It returns an error wrapping fs.ErrNotExist if the pod is
// not there, or moved away while it was opened.
func openPodIn(dataDir string, f folder, folderFd int, id string, mode lockMode) (*Pod, error) {
	return openListedPod(dataDir, f, folderFd, id, 0, mode)
}

// openListedPod is openPodIn of a pod whose name the listing of folderFd
// gave with inode number ino (0: unknown).
func openListedPod(dataDir string, f folder, folderFd int, id string, ino uint64, mode lockMode) (*Pod, error) {
	// Raw calls, relative to the folder when it is open, not an
	// *os.File: list and gc open every pod.
	var fd int
	var err error
	if folderFd >= 0 {
		fd, err = unix.Openat(folderFd, id, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	} else {
		fd, err = unix.Open(filepath.Join(folderPath(dataDir, f), id), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	p := &Pod{UUID: id, dataDir: dataDir, folder: f, fd: fd, folderFd: folderFd, listedIno: ino}
	if err != nil {
		err = &fs.PathError{Op: "open", Path: p.Path(), Err: err}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("opening pod %s: %w", id, err)
	}
	if mode == tryExclusive {
		switch ok, err := p.tryExclusiveFirst(); {
		case err != nil:
			p.Close()
			return nil, err
		case ok:
			return p, nil
		}
	}
	locked := false
	// flock's own error, not tryLock's: a running pod's lock is taken,
	// and making its path for an error dropped at once was a twentieth
	// of a list of running pods.
	switch err := flock.TryLockFD(p.fd, flock.Shared); {
	case err == nil:
		if mode != holdShared {
			if err := p.unlock(); err != nil {
				p.Close()
				return nil, fmt.Errorf("opening pod %s: %w", id, err)
			}
		}
	case errors.Is(err, flock.ErrLocked):
		locked = true
	default:
		p.Close()
		return nil, fmt.Errorf("opening pod %s: %w", id, &fs.PathError{Op: "trylock", Path: p.Path(), Err: err})
	}
	p.state = stateOf(f, locked)
	if err := p.checkStillThere(); err != nil {
		p.Close()
		return nil, err
	}
	// The layout is read when first asked for (CheckLayout): a pod
	// listed from its summary needs no other file.
	return p, nil
}

// tryExclusiveFirst takes the exclusive lock of a pod just opened if it
// is free, as TryExclusiveLock would (never of a pod whose layout this
// podctl does not know, and checking the pod is still there once
// locked), in one call instead of a probe and a lock: gc marks every
// exited pod it finds. The lock is tried before the layout is read, so
// that a running pod costs one call more, not a read. ok is false, with
// no error, when the lock is taken or the layout unknown: the caller
// probes the pod as usual.
func (p *Pod) tryExclusiveFirst() (ok bool, err error) {
	if err := flock.TryLockFD(p.fd, flock.Exclusive); err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return false, nil
		}
		return false, fmt.Errorf("opening pod %s: %w", p.UUID, &fs.PathError{Op: "trylock", Path: p.Path(), Err: err})
	}
	if p.CheckLayout() != nil {
		// TryExclusiveLock says why, to whoever asks for the lock.
		if err := p.unlock(); err != nil {
			return false, fmt.Errorf("opening pod %s: %w", p.UUID, err)
		}
		return false, nil
	}
	if err := p.checkStillThere(); err != nil {
		p.unlock()
		return false, err
	}
	p.locked = true
	p.state = stateOf(p.folder, false)
	return true, nil
}

// checkStillThere confirms that the pod's path still names the directory
// we hold open: the pod may have been moved between open and lock.
func (p *Pod) checkStillThere() error {
	var st, fst unix.Stat_t
	var err error
	byFolder := p.folderFd >= 0 && p.at == ""
	if byFolder {
		err = unix.Fstatat(p.folderFd, p.UUID, &st, unix.AT_SYMLINK_NOFOLLOW)
	} else {
		err = unix.Lstat(p.Path(), &st)
	}
	if err != nil {
		if err == unix.ENOENT {
			return &fs.PathError{Op: "lstat", Path: p.Path(), Err: fs.ErrNotExist}
		}
		return fmt.Errorf("checking pod %s: %w", p.UUID, err)
	}
	// The name names now the directory it named when the walk listed
	// the folder, before the pod was opened by that name: the one open.
	// (Pod folders never come back to a folder they left, and a UUID is
	// never made twice.) Otherwise, or if it is a mount point, whose
	// listed inode is the one below it, the open directory is compared.
	if byFolder && p.listedIno != 0 && st.Ino == p.listedIno {
		return nil
	}
	if err := unix.Fstat(p.fd, &fst); err != nil {
		return fmt.Errorf("checking pod %s: %w", p.UUID, err)
	}
	if st.Ino != fst.Ino || st.Dev != fst.Dev {
		return &fs.PathError{Op: "lstat", Path: p.Path(), Err: fs.ErrNotExist}
	}
	return nil
}

// Refresh opens the pod again wherever it is now and returns the new view.
// The receiver is left as it was; the caller closes both.
func (p *Pod) Refresh() (*Pod, error) {
	return openPod(p.dataDir, p.UUID)
}

// Close releases the pod's directory, and with it any lock this process
// holds on it (unless the descriptor was handed to a child that still has it).
func (p *Pod) Close() error {
	if p.fd < 0 {
		return nil
	}
	var err error
	if p.dir != nil {
		err = p.dir.Close()
	} else {
		err = unix.Close(p.fd)
	}
	p.dir, p.fd = nil, -1
	return err
}

// Path is the pod directory's path for the state it was last seen in.
func (p *Pod) Path() string {
	if p.at != "" {
		return p.at
	}
	// A UUID is one plain element: joined without cleaning.
	return cachedFolderPath(p.dataDir, p.folder) + "/" + p.UUID
}

// FilePath is the path of one of the pod's files (files.go), for what
// needs a path rather than the pod's own methods: a mount, a socket, a
// FIFO, a helper's argument.
func (p *Pod) FilePath(name string) string {
	return filepath.Join(p.Path(), name)
}

// OpenAt opens the pod directory dir for code that runs in another mount
// namespace than the pod's stage0, where the pod is at another path: a
// flavor's helpers and hooks, the native flavor's init. It is the only way
// to open a pod by path. It takes no lock (the pod's stage1 holds it), and
// the pod reads as running.
func OpenAt(dir string) (*Pod, error) {
	dir = filepath.Clean(dir)
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("opening pod %s: %w", dir, err)
	}
	return &Pod{UUID: filepath.Base(dir), dataDir: datadir.OfPod(dir), folder: runDir, fd: int(f.Fd()), dir: f, state: Running, at: dir, folderFd: -1}, nil
}

// DataDir is the data directory the pod lives in.
func (p *Pod) DataDir() string { return p.dataDir }

// State is the state the pod was in when it was opened or last moved.
func (p *Pod) State() State { return p.state }

// IsAfterRun reports whether the pod has run and exited.
func (p *Pod) IsAfterRun() bool { return p.state.IsAfterRun() }

// IsFinished reports whether the pod will never run again.
func (p *Pod) IsFinished() bool { return p.state.IsFinished() }

// LockFile is the open pod directory whose flock is the pod's lock. stage0
// hands it to stage1, which keeps it open for as long as the pod runs.
func (p *Pod) LockFile() *os.File {
	if p.dir == nil && p.fd >= 0 {
		p.dir = os.NewFile(uintptr(p.fd), p.Path())
	}
	return p.dir
}

// DirFd is the open pod directory, for reading the pod's files with raw
// calls relative to it (openat); valid until Close. Unlike LockFile, it
// makes no *os.File.
func (p *Pod) DirFd() int { return p.fd }

// tryLock takes the pod's lock of this kind without waiting; the error
// wraps flock.ErrLocked if another holds it.
func (p *Pod) tryLock(kind flock.Kind) error {
	if err := flock.TryLockFD(p.fd, kind); err != nil {
		return &fs.PathError{Op: "trylock", Path: p.Path(), Err: err}
	}
	return nil
}

// unlock releases this process's lock of the pod.
func (p *Pod) unlock() error {
	if err := flock.UnlockFD(p.fd); err != nil {
		return &fs.PathError{Op: "unlock", Path: p.Path(), Err: err}
	}
	return nil
}

// TryExclusiveLock takes the pod's exclusive lock. Readers hold a shared
// lock for a moment while they look, so a lock held only by them is waited
// for briefly; a pod still locked after that is busy (running, preparing or
// being deleted) and the error wraps ErrBusy. After locking, the pod is
// checked to still be where it was opened; if it moved, the error wraps
// fs.ErrNotExist and the caller should look the pod up again.
//
// A pod whose layout this podctl does not know is never locked: the error
// is CheckLayout's.
func (p *Pod) TryExclusiveLock() error {
	if p.locked {
		return nil
	}
	if err := p.CheckLayout(); err != nil {
		return err
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		err := p.tryLock(flock.Exclusive)
		if err == nil {
			break
		}
		if !errors.Is(err, flock.ErrLocked) {
			return fmt.Errorf("locking pod %s: %w", p.UUID, err)
		}
		// A pod locked by its creator, its stage1 or a deleter stays locked;
		// only readers' locks come and go, so a short wait tells them apart.
		if time.Now().After(deadline) || p.state == Running || p.state == Preparing || p.state == Deleting || p.state == ExitedDeleting {
			return errdefs.New(ErrBusy, "pod %s is %s", p.UUID, p.stateLocked())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.checkStillThere(); err != nil {
		p.unlock()
		return err
	}
	p.locked = true
	// Holding the lock, the pod's state is the one its folder has when free.
	p.state = stateOf(p.folder, false)
	return nil
}

func (p *Pod) stateLocked() State { return stateOf(p.folder, true) }

// Locked reports whether this view of the pod holds its exclusive lock
// (TryExclusiveLock, or a walk that passes pods locked).
func (p *Pod) Locked() bool { return p.locked }

// Unlock releases the pod's exclusive lock.
func (p *Pod) Unlock() error {
	if !p.locked {
		return nil
	}
	if err := p.unlock(); err != nil {
		return fmt.Errorf("unlocking pod %s: %w", p.UUID, err)
	}
	p.locked = false
	p.state = stateOf(p.folder, false)
	return nil
}

// move renames the pod to the folder of state to, checking the transition
// table. The caller holds the exclusive lock. With durable, both folders are
// fsynced so the move survives a power cut.
func (p *Pod) move(to State, durable bool) error {
	t, ok := transitions[[2]State{p.state, to}]
	if !ok || !p.locked || t.from != p.folder {
		return &TransitionError{UUID: p.UUID, From: p.state, To: to}
	}
	fromDir, toDir := folderPath(p.dataDir, t.from), folderPath(p.dataDir, t.to)
	err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(fromDir, p.UUID), unix.AT_FDCWD, filepath.Join(toDir, p.UUID), unix.RENAME_NOREPLACE)
	if err != nil {
		return fmt.Errorf("moving pod %s from %s to %s: %w", p.UUID, t.from, t.to, err)
	}
	p.folder = t.to
	p.folderFd = -1
	p.state = to
	if err := p.appendHistory(to.String()); err != nil {
		// The move is made; only its record is missing.
		events.Warn(err)
	}
	if durable {
		if err := fsutil.SyncDir(toDir); err != nil {
			return err
		}
		if err := fsutil.SyncDir(fromDir); err != nil {
			return err
		}
	}
	return nil
}

// ToPrepared moves a pod its creator has prepared to the prepared folder and
// unlocks it. The move is made durable (together with the files the creator
// wrote), since losing it in a crash would lose a pod the user asked for.
func (p *Pod) ToPrepared() error {
	if err := p.Sync(); err != nil {
		return err
	}
	if err := p.move(Prepared, true); err != nil {
		return err
	}
	p.emit(events.Prepared)
	return p.Unlock()
}

// ToRun moves a pod to the run folder, keeping it locked: the lock, handed
// to stage1, is what makes it running. The pod is either being prepared by
// this process or prepared and locked with TryExclusiveLock. No fsync: after
// a power cut the pod is not running whichever folder it is found in, and gc
// collects it from either.
func (p *Pod) ToRun() error {
	if err := p.move(Running, false); err != nil {
		return err
	}
	p.emit(events.Started)
	return nil
}

// ToExitedGarbage marks an exited pod for collection; the move stamps the
// directory's ctime, which GCMarkedTime reads. The caller holds the lock.
// Not fsynced: if the move is lost, the pod is exited again and gc marks it
// again. Remove syncs before it deletes anything.
func (p *Pod) ToExitedGarbage() error {
	if err := p.move(ExitedGarbage, false); err != nil {
		return err
	}
	p.emit(events.GCMarked)
	return nil
}

// ToGarbage marks a prepared pod, or one whose preparation failed, for
// collection. The caller holds the lock. Durable, so a pod the user removed
// never comes back as prepared.
func (p *Pod) ToGarbage() error {
	// A pod whose preparation failed was never announced; neither is its
	// end.
	p.unannounced = p.state == Preparing
	if err := p.move(Garbage, true); err != nil {
		return err
	}
	p.emit(events.GCMarked)
	return nil
}

// Remove deletes a pod marked for collection. The caller holds its lock.
func (p *Pod) Remove() error { return p.RemoveSynced(time.Time{}) }

// RemoveSynced is Remove for a caller that made the garbage folders
// durable when SyncGarbageFolders returned synced: a pod moved in before
// that needs no sync of its own.
func (p *Pod) RemoveSynced(synced time.Time) error {
	if !p.locked || (p.folder != garbageDir && p.folder != exitedGarbageDir) {
		return &TransitionError{UUID: p.UUID, From: p.state, To: Deleting}
	}
	// The move into this folder must be on disk before the pod's files go,
	// or a crash could bring back a half-deleted pod in its old folder.
	if !p.movedBefore(synced) {
		if err := fsutil.SyncDir(folderPath(p.dataDir, p.folder)); err != nil {
			return err
		}
	}
	// The name is in the manifest, which goes with the pod.
	var name string
	if !p.unannounced {
		name = p.eventName()
	}
	if err := os.RemoveAll(p.Path()); err != nil {
		return fmt.Errorf("removing pod %s: %w", p.UUID, err)
	}
	if !p.unannounced {
		p.record(events.Event{Type: events.Removed, Pod: p.UUID, Name: name})
	}
	return nil
}

// emit records an event of the pod in the data directory's event log. It
// cannot fail the transition that happened: a failure is a warning.
func (p *Pod) emit(typ string) {
	if p.unannounced {
		return
	}
	p.record(events.Event{Type: typ, Pod: p.UUID, Name: p.eventName()})
}

// record appends e to the event log, through the pod's appender if it
// has one, and warns if that fails.
func (p *Pod) record(e events.Event) {
	if p.appender != nil {
		events.Warn(p.appender.Append(e))
		return
	}
	events.Record(p.dataDir, e)
}

// RecordEventsWith makes the pod's transitions record their events
// through a, which a command handling many pods (gc) keeps open.
func (p *Pod) RecordEventsWith(a *events.Appender) { p.appender = a }

// eventName is the pod's name for its events, read from the manifest only
// when an event is recorded; "" if it has none (or no manifest yet).
func (p *Pod) eventName() string {
	b, err := p.readOwnFile(FileManifest, 0)
	if err != nil {
		return ""
	}
	return NameFromManifest(b)
}

// Sync flushes the file system holding the pod to disk.
func (p *Pod) Sync() error {
	if err := unix.Syncfs(p.fd); err != nil {
		return fmt.Errorf("syncing pod %s: %w", p.UUID, err)
	}
	return nil
}

// ReadFile reads a file of the pod through the open pod directory.
func (p *Pod) ReadFile(name string) ([]byte, error) { return p.readFile(name, 0) }

// readFile is ReadFile with a bound: with max above zero, a file longer
// than max bytes is an error, found after reading max+1 of them.
func (p *Pod) readFile(name string, max int) ([]byte, error) {
	// A regular file only, never waiting on a FIFO: with private users,
	// the pod's systemd writes its apps' folders, and a FIFO there must
	// not hang list, status or enter, nor feed them without end.
	b, err := fsutil.ReadRegularAt(p.fd, name, max)
	return p.fileRead(name, b, err)
}

// readOwnFile is readFile of a file that podctl alone writes in the pod's
// own folders, never in an app's (the summary, the flavor, the
// manifest): fsutil.ReadSmallAt, a call less.
func (p *Pod) readOwnFile(name string, max int) ([]byte, error) {
	b, err := fsutil.ReadSmallAt(p.fd, name, max)
	return p.fileRead(name, b, err)
}

// fileRead is what readFile returns of the read of file name.
func (p *Pod) fileRead(name string, b []byte, err error) ([]byte, error) {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return nil, &fs.PathError{Op: "open", Path: p.fileErrPath(name), Err: pe.Err}
	case errors.Is(err, fsutil.ErrTooLong):
		return nil, fmt.Errorf("reading %s of pod %s: %w", name, p.UUID, errTooLong)
	case err != nil:
		return nil, fmt.Errorf("reading %s of pod %s: %w", name, p.UUID, err)
	}
	return b, nil
}

// errTooLong is a pod file longer than its reader takes.
var errTooLong = fsutil.ErrTooLong

func (p *Pod) statFile(name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(p.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: p.fileErrPath(name), Err: err}
	}
	return &st, nil
}

// WriteFile writes a file of the pod atomically. It is for the pod's owner
// (its creator or its stage1), which knows the pod cannot move meanwhile.
func (p *Pod) WriteFile(name string, data []byte, durable bool) error {
	return fsutil.WriteFile(p.FilePath(name), data, 0o600, durable)
}

// CreationTime is when the pod was created.
func (p *Pod) CreationTime() (time.Time, error) {
	st, err := p.statFile(FileCreated)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(st.Mtim.Unix()), nil
}

// StartTime is when stage1 started the pod; zero if it never did.
func (p *Pod) StartTime() (time.Time, error) { return p.fileTime(FilePid) }

// ReadyTime is when every app of the pod was ready; zero if they have not
// been yet.
func (p *Pod) ReadyTime() (time.Time, error) { return p.fileTime(FileReady) }

// fileTime is when the pod's file name was written; zero if it has not
// been.
func (p *Pod) fileTime(name string) (time.Time, error) {
	st, err := p.statFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return time.Time{}, nil
		}
		return time.Time{}, err
	}
	return time.Unix(st.Mtim.Unix()), nil
}

// GCMarkedTime is when gc marked the pod for collection: the ctime the move
// into exited-garbage or garbage gave the directory. Zero for other states.
func (p *Pod) GCMarkedTime() (time.Time, error) {
	if p.folder != exitedGarbageDir && p.folder != garbageDir {
		return time.Time{}, nil
	}
	return p.ctime()
}

// ctime is the pod directory's change time: the time it last moved, as long
// as nothing inside it has changed since.
func (p *Pod) ctime() (time.Time, error) {
	var st unix.Stat_t
	if err := unix.Fstat(p.fd, &st); err != nil {
		return time.Time{}, fmt.Errorf("reading times of pod %s: %w", p.UUID, err)
	}
	return time.Unix(st.Ctim.Unix()), nil
}

// IsStaleEmbryo reports whether the pod is an embryo left by a creator that
// died: its creator locks it a moment after making its folder, so an
// embryo older than a minute whose lock is free is abandoned.
func (p *Pod) IsStaleEmbryo(now time.Time) bool {
	if p.folder != embryoDir || p.locked {
		return false
	}
	if err := p.tryLock(flock.Shared); err != nil {
		return false
	}
	p.unlock()
	t, err := p.ctime()
	return err == nil && now.Sub(t) > time.Minute
}

// PreparedTime is when the pod became prepared; zero unless it is prepared.
func (p *Pod) PreparedTime() (time.Time, error) {
	if p.folder != preparedDir {
		return time.Time{}, nil
	}
	return p.ctime()
}

// Pid is the pid of the pod's stage1 process, or 0 if it has not written one.
// The file is in the pod's directory, where a root app of the fly flavor
// can write: it is read without blocking (not a FIFO), only as a small
// regular file, and anything but one positive number is an error. Before
// signalling the pid, callers check that it holds the pod's lock
// (stage1.CheckStage1Pid).
func (p *Pod) Pid() (int, error) {
	// Raw calls (readFile): list reads the pid of every running pod.
	b, err := p.readFile(FilePid, 32)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		if errors.Is(err, errTooLong) {
			return 0, fmt.Errorf("the pid file of pod %s holds more than a process ID", p.UUID)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return 0, fmt.Errorf("reading pid of pod %s: %w", p.UUID, err)
		}
		// readFile's own errors name the file and the pod.
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("the pid file of pod %s holds %q, not a process ID", p.UUID, b)
	}
	return pid, nil
}

// PodManifest reads the pod manifest, as bytes and parsed. A manifest that
// does not parse, or that appc's code could not use safely (see
// internal/manifest), is an error of this pod alone.
func (p *Pod) PodManifest() ([]byte, *schema.PodManifest, error) {
	b, err := p.ReadFile(FileManifest)
	if err != nil {
		return nil, nil, err
	}
	m, err := manifest.ParsePod(b)
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest of pod %s: %w", p.UUID, err)
	}
	return b, m, nil
}

// Flavor is the name of the stage1 flavor recorded for the pod, or "" if
// none was recorded yet.
func (p *Pod) Flavor() (string, error) {
	b, err := p.readOwnFile(FileFlavor, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// IsReady reports whether stage1 has started all the pod's apps.
func (p *Pod) IsReady() bool {
	_, err := p.statFile(FileReady)
	return err == nil
}

// Exists tells whether the pod with this UUID is in the data directory,
// in any state. Folders are looked at in lifecycle order, so a pod moving
// on while they are is seen.
func Exists(dataDir, id string) (bool, error) {
	for f := embryoDir; f < numFolders; f++ {
		_, err := os.Lstat(filepath.Join(folderPath(dataDir, f), id))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("looking for pod %s: %w", id, err)
		}
	}
	return false, nil
}
