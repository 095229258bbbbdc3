package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"podctl/internal/flock"
	"podctl/internal/fsutil"
)

// Remove removes image id: its blob, its tree unless keepTree is set (a
// prepared pod may still use it; GC removes it once no pod does), and its
// index entry, in that order, so that it frees space before it writes
// anything and works on a full disk. It takes the store lock exclusive
// unless this Store holds it already. An ID the index does not know gives
// an error wrapping ErrNotFound.
func (s *Store) Remove(id string, keepTree bool) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("removing image: %w", err)
	}
	unlock, err := s.hold(true)
	if err != nil {
		return fmt.Errorf("removing image %s: %w", id, err)
	}
	defer unlock()

	var rec record
	var found bool
	err = s.view(func(tx *bolt.Tx) error {
		rec, found, err = getRecord(tx, id)
		return err
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	if err == nil {
		err = s.removeData(id, rec, keepTree)
	}
	if err == nil {
		err = s.deleteImages([]string{id})
	}
	if err == nil && rec.layered() {
		err = s.removeUnusedLayers()
	}
	if err != nil {
		return fmt.Errorf("removing image %s: %w", id, err)
	}
	return nil
}

// removeUnusedLayers removes the layers and configs that no image left in
// the index names, so that removing a layered image frees its own layers
// at once and keeps those another image shares. The caller holds the store
// lock exclusive.
func (s *Store) removeUnusedLayers() error {
	var kept []record
	err := s.view(func(tx *bolt.Tx) error {
		return forEachRecord(tx, "", func(_ string, r record) error {
			kept = append(kept, r)
			return nil
		})
	})
	if err != nil {
		return err
	}
	return s.gcLayerBlobs(kept)
}

// removeData deletes the blob of an image and, unless keepTree, its tree.
// Once the blob is gone the image is hidden, even if its index entry stays.
func (s *Store) removeData(id string, rec record, keepTree bool) error {
	err := os.Remove(s.blobPath(rec.Digest))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing blob: %w", err)
	}
	if err := fsutil.SyncDir(s.blobDir()); err != nil {
		return err
	}
	if keepTree {
		return nil
	}
	return s.removeTree(id)
}

// GC collects images. It removes the images that are not in inUse and were
// last used (or imported, if never used) more than grace before now, the
// trees whose image is not in inUse (an image kept for its grace period
// renders its tree again when a pod next uses it), blobs
// that no index entry names, images whose removal was cut short, and
// everything left in tmp/. It returns the IDs of the images and trees it
// removed, sorted.
//
// The caller works out inUse (the images of pods that are not garbage) while
// it holds LockExclusive, so that no pod being prepared starts using an image
// in between; without that hold, GC takes the lock itself for its own
// duration. It goes on after an error and returns them all.
func (s *Store) GC(inUse map[string]bool, grace time.Duration, now time.Time) (removed []string, err error) {
	unlock, err := s.hold(true)
	if err != nil {
		return nil, fmt.Errorf("collecting images: %w", err)
	}
	defer unlock()

	var errs []error
	if err := s.cleanTmp(); err != nil {
		errs = append(errs, err)
	}

	type entry struct {
		id  string
		rec record
	}
	var all []entry
	err = s.view(func(tx *bolt.Tx) error {
		return forEachRecord(tx, "", func(id string, r record) error {
			all = append(all, entry{id, r})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("collecting images: %w", err)
	}

	done := make(map[string]bool)
	kept := make(map[string]string) // id -> blob digest of the images that stay
	var gone []string               // index entries to delete
	cutoff := now.Add(-grace)
	for _, e := range all {
		if inUse[e.id] {
			kept[e.id] = e.rec.Digest
			continue
		}
		live, err := s.blobExists(e.rec)
		if err != nil {
			errs = append(errs, err)
			kept[e.id] = e.rec.Digest
			continue
		}
		last := e.rec.LastUsed
		if e.rec.ImportTime.After(last) {
			last = e.rec.ImportTime
		}
		if live && !last.Before(cutoff) {
			kept[e.id] = e.rec.Digest
			continue
		}
		if err := s.removeData(e.id, e.rec, false); err != nil {
			errs = append(errs, fmt.Errorf("removing image %s: %w", e.id, err))
			if live {
				// Its blob may still be there: it stays an image.
				kept[e.id] = e.rec.Digest
				continue
			}
		}
		gone = append(gone, e.id)
		done[e.id] = true
	}
	if err := s.deleteImages(gone); err != nil {
		errs = append(errs, err)
	}

	// Trees no pod uses, whether their image stays or not: a tree is a
	// copy of the blob's content, made again on demand.
	names, err := readDirNames(s.treeDir())
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range names {
		if inUse[id] {
			continue
		}
		if err := checkID(id); err != nil {
			// Not a tree the store made: removeTree only takes IDs.
			errs = append(errs, fmt.Errorf("unexpected entry %s in %s", id, s.treeDir()))
			continue
		}
		if err := s.removeTree(id); err != nil {
			errs = append(errs, err)
			continue
		}
		done[id] = true
	}

	// Blobs no index entry names: a crash between storing a blob and
	// recording it. No import is under way, since GC holds the lock.
	digests := make(map[string]bool, len(kept))
	for _, d := range kept {
		digests[d] = true
	}
	names, err = readDirNames(s.blobDir())
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range names {
		if digests[d] {
			continue
		}
		if err := os.Remove(filepath.Join(s.blobDir(), d)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing blob: %w", err))
		}
	}

	// Layers and configs no kept layered image names (layered.go).
	var keptRecs []record
	for _, e := range all {
		if _, ok := kept[e.id]; ok {
			keptRecs = append(keptRecs, e.rec)
		}
	}
	if err := s.gcLayerBlobs(keptRecs); err != nil {
		errs = append(errs, err)
	}

	for id := range done {
		removed = append(removed, id)
	}
	sort.Strings(removed)
	if len(errs) > 0 {
		return removed, fmt.Errorf("collecting images: %w", errors.Join(errs...))
	}
	return removed, nil
}

// cleanTmp removes everything in tmp/. The caller holds the store lock
// exclusive, so nothing in there belongs to a live operation.
func (s *Store) cleanTmp() error {
	names, err := readDirNames(s.tmpDir())
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), n)); err != nil {
			errs = append(errs, fmt.Errorf("cleaning %s: %w", s.tmpDir(), err))
		}
	}
	return errors.Join(errs...)
}

// cleanTmpIfIdle cleans tmp/ if it holds anything and no other process uses
// the store right now (the exclusive lock is free); otherwise it leaves it
// to a later Open or GC.
func (s *Store) cleanTmpIfIdle() error {
	d, err := os.Open(s.tmpDir())
	if err != nil {
		return err
	}
	_, err = d.Readdirnames(1)
	d.Close()
	if err != nil {
		return nil // empty (io.EOF) or unreadable: nothing to do here
	}
	s.mu.Lock()
	held := s.shared+s.exclusive > 0
	s.mu.Unlock()
	if held {
		return nil
	}
	f, err := flockFile(s.lockPath(), flock.Exclusive, false)
	if err != nil {
		return nil // busy: someone may be building in tmp/
	}
	defer f.Close()
	return s.cleanTmp()
}

// readDirNames lists a folder's entries by name.
func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	return names, nil
}
