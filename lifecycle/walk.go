package lifecycle

import (
	"errors"
	"io/fs"
	"runtime"
	"sort"
	"sync"

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
	all, err := listPods(dataDir, include)
	if err != nil {
		return err
	}
	for _, e := range all {
		p, err := openPodIn(dataDir, e.folder, e.id)
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
}

// listPods lists the pods of the chosen folders in walk order: lifecycle
// order, then by UUID.
func listPods(dataDir string, include IncludeMask) ([]podEntry, error) {
	var all []podEntry
	for fo := embryoDir; fo < numFolders; fo++ {
		if include&(1<<fo) == 0 {
			continue
		}
		names, err := readNames(folderPath(dataDir, fo))
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		for _, id := range names {
			// Anything else in a state folder was not made by podctl.
			if isPodUUID(id) {
				all = append(all, podEntry{fo, id})
			}
		}
	}
	return all, nil
}

// WalkPodsConcurrently is WalkPods with the pods opened and passed to f by
// one goroutine per CPU, f getting each pod's place in the walk's order so
// that the caller can keep it. f must be safe to call concurrently.
func WalkPodsConcurrently(dataDir string, include IncludeMask, f func(i int, p *Pod)) error {
	return WalkPodsN(dataDir, include, runtime.NumCPU(), f)
}

// WalkPodsN is WalkPodsConcurrently with n goroutines: more than the CPUs
// for work that mostly waits for the disk (gc's removals).
func WalkPodsN(dataDir string, include IncludeMask, n int, f func(i int, p *Pod)) error {
	all, err := listPods(dataDir, include)
	if err != nil {
		return err
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
		next    = make(chan int)
	)
	for w := 0; w < max(n, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p, err := openPodIn(dataDir, all[i].folder, all[i].id)
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
	for i := range all {
		next <- i
	}
	close(next)
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
