package lifecycle

import (
	"errors"
	"io/fs"
	"sort"
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
	for fo := embryoDir; fo < numFolders; fo++ {
		if include&(1<<fo) == 0 {
			continue
		}
		names, err := readNames(folderPath(dataDir, fo))
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, id := range names {
			p, err := openPodIn(dataDir, fo, id)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			f(p)
			p.Close()
		}
	}
	return nil
}
