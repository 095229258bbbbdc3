package lifecycle

import (
	"errors"
	"io/fs"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"
)

// IncludeMask chooses the state folders WalkPods visits.
type IncludeMask uint8

// The folders WalkPods can visit.
const (
	IncludeEmbryoDir IncludeMask = 1 << iota
	IncludePrepareDir
	IncludePreparedDir
	IncludeRunDir
	IncludeExitedGarbageDir
	IncludeGarbageDir

	// IncludeMostDirs is every folder a user's pod can be listed from.
	IncludeMostDirs = IncludePrepareDir | IncludePreparedDir | IncludeRunDir | IncludeExitedGarbageDir
	// IncludeAllDirs is every folder.
	IncludeAllDirs = IncludeMostDirs | IncludeEmbryoDir | IncludeGarbageDir
)

// WalkPods calls f for every pod in the chosen folders, in lifecycle order
// and by UUID within a folder. Each pod is opened (its state read without
// blocking) before f and closed after it, so f must not keep it. A pod that
// moves or vanishes during the walk is skipped in the folder it left; it may
// be seen again in the folder it moved to.
func WalkPods(dataDir string, include IncludeMask, f func(*Pod)) error {
	all, folders, err := listPods(dataDir, include)
	if err != nil {
		return err
	}
	defer folders.close()
	for _, e := range all {
		p, err := openListedPod(dataDir, e.folder, folders[e.folder], e.id, e.ino, probeLock)
		if err != nil {
			if notAPod(err) {
				continue
			}
			return err
		}
		f(p)
		p.Close()
	}
	return nil
}

// podEntry is a pod's name where a walk found it.
type podEntry struct {
	folder folder
	id     string
	// ino is the inode number the folder's listing gave.
	ino uint64
}

// folderFds are the state folders a walk opened, by folder; -1 for one
// it did not open.
type folderFds [numFolders]int

func (fds *folderFds) close() {
	for i, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
			fds[i] = -1
		}
	}
}

// listPods lists the pods of the chosen folders in walk order: lifecycle
// order, then by UUID, and opens the folders, which the caller closes:
// the pods are opened relative to them, which spares the kernel a walk
// of the data directory's path for each.
func listPods(dataDir string, include IncludeMask) ([]podEntry, *folderFds, error) {
	var all []podEntry
	folders := &folderFds{}
	for i := range folders {
		folders[i] = -1
	}
	for fo := embryoDir; fo < numFolders; fo++ {
		if include&(1<<fo) == 0 {
			continue
		}
		entries, fd, err := readEntriesOpen(folderPath(dataDir, fo))
		if err != nil {
			folders.close()
			return nil, nil, err
		}
		folders[fo] = fd
		sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
		for _, e := range entries {
			// Anything else in a state folder was not made by podctl.
			if isPodUUID(e.name) {
				all = append(all, podEntry{fo, e.name, e.ino})
			}
		}
	}
	return all, folders, nil
}

// WalkPodsConcurrently is WalkPods with the pods opened and passed to f by
// one goroutine per CPU, f getting each pod's place in the walk's order so
// that the caller can keep it. f must be safe to call concurrently.
func WalkPodsConcurrently(dataDir string, include IncludeMask, f func(i int, p *Pod)) error {
	return walkPodsN(dataDir, include, runtime.NumCPU(), func(folder) lockMode { return probeLock }, f)
}

// WalkPodsReading is WalkPodsConcurrently for a reader that looks at each
// pod only for a moment (list): the shared lock that tells a pod's state
// is kept until the pod is closed, which releases it, instead of being
// released at once, one call less a pod. Like any reader's, it makes a
// gc or a start of the pod wait that moment (TryExclusiveLock).
func WalkPodsReading(dataDir string, include IncludeMask, f func(i int, p *Pod)) error {
	return walkPodsN(dataDir, include, runtime.NumCPU(), func(folder) lockMode { return holdShared }, f)
}

// WalkPodsMarking is WalkPodsConcurrently for gc's marking: an exited pod
// in run/ whose lock is free is passed with its exclusive lock taken, as
// TryExclusiveLock leaves it (one call where a probe and a lock took
// three, and one check of its place instead of two). Every other pod is
// passed as WalkPodsConcurrently passes it.
func WalkPodsMarking(dataDir string, include IncludeMask, f func(i int, p *Pod)) error {
	return walkPodsN(dataDir, include, runtime.NumCPU(), func(fo folder) lockMode {
		if fo == runDir {
			return tryExclusive
		}
		return probeLock
	}, f)
}

// WalkPodsN is WalkPodsConcurrently with n goroutines: more than the CPUs
// for work that mostly waits for the disk (gc's removals).
func WalkPodsN(dataDir string, include IncludeMask, n int, f func(i int, p *Pod)) error {
	return walkPodsN(dataDir, include, n, func(folder) lockMode { return probeLock }, f)
}

// walkPodsN is WalkPodsN opening the pods of each folder as modeOf says.
func walkPodsN(dataDir string, include IncludeMask, n int, modeOf func(folder) lockMode, f func(i int, p *Pod)) error {
	all, folders, err := listPods(dataDir, include)
	if err != nil {
		return err
	}
	defer folders.close()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
		// The pods are handed out by a counter, not a channel: a
		// channel's hand-off cost each pod a few wake-ups of the
		// scheduler.
		next atomic.Int64
	)
	for w := 0; w < max(n, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(all) {
					return
				}
				e := all[i]
				p, err := openListedPod(dataDir, e.folder, folders[e.folder], e.id, e.ino, modeOf(e.folder))
				if err != nil {
					if !notAPod(err) {
						mu.Lock()
						if firstEr == nil {
							firstEr = err
						}
						mu.Unlock()
					}
					continue
				}
				f(i, p)
				p.Close()
			}
		}()
	}
	wg.Wait()
	return firstEr
}

// isPodUUID reports whether a name in a state folder is a pod's: a UUID in
// the canonical lower-case form NewPod gives it.
func isPodUUID(name string) bool {
	id, err := uuid.Parse(name)
	return err == nil && id.String() == name
}

// notAPod reports whether an error opening a walked name means there is no
// pod there: it moved away, or the name is a file or a symlink, which
// podctl never makes in a state folder.
func notAPod(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)
}
