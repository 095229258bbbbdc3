package lifecycle

import (
	"errors"
	"io/fs"
	"time"

	"podctl/internal/fsutil"
)

// clockGrain bounds how far a file time lags the moment it records: the
// kernel stamps times from a clock that ticks at most every few
// milliseconds.
const clockGrain = 100 * time.Millisecond

// SyncGarbageFolders makes every move into the garbage folders made so far
// durable, with one fsync of each folder, and returns when it started. A
// gc that removes many pods passes that time to RemoveSynced, instead of
// syncing the folder again for every pod.
func SyncGarbageFolders(dataDir string) (time.Time, error) {
	start := time.Now()
	for _, f := range []folder{exitedGarbageDir, garbageDir} {
		// A folder not made yet holds no pod to sync.
		if err := fsutil.SyncDir(folderPath(dataDir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return time.Time{}, err
		}
	}
	return start, nil
}

// movedBefore reports whether the pod's last move, its directory's ctime,
// was surely before t. Anything else that changed the directory since only
// makes the answer no, and the caller syncs.
func (p *Pod) movedBefore(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	ct, err := p.ctime()
	return err == nil && ct.Before(t.Add(-clockGrain))
}
