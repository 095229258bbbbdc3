package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The index (index.db) is a bbolt file with two buckets, both keyed by image
// ID:
//
//	images     -> JSON record (digest, name, labels, import time, last use, size)
//	manifests  -> the image manifest JSON, as found in the archive
//
// It is opened for one transaction at a time and closed right after, so
// that the many podctl processes sharing it only wait for each other for the
// length of one transaction. bbolt's own flock on the file is shared for
// read-only opens and exclusive for read-write ones.
var (
	bucketImages    = []byte("images")
	bucketManifests = []byte("manifests")
)

// indexTimeout bounds how long an operation waits for another process's
// transaction before it gives up.
const indexTimeout = 30 * time.Second

// record is what the index holds for one image.
type record struct {
	Digest     string            `json:"digest"` // full SHA-512 hex of the blob
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	ImportTime time.Time         `json:"importTime"`
	LastUsed   time.Time         `json:"lastUsed"`
	Size       int64             `json:"size"`
	// Entries and FileSize are the entry count and the sum of the
	// declared file sizes that the import accepted (see Limits); 0 in
	// records written before they were kept.
	Entries  int64 `json:"entries,omitempty"`
	FileSize int64 `json:"fileSize,omitempty"`
	// The rest is for layered images (layered.go); empty for ACIs.
	Format         string   `json:"format,omitempty"`         // FormatOCI, FormatDockerArchive; "" is an ACI
	Reference      string   `json:"reference,omitempty"`      // what the image was fetched as
	ManifestDigest string   `json:"manifestDigest,omitempty"` // the digest it was pulled by
	Config         string   `json:"config,omitempty"`         // sha256: digest of its config blob
	Layers         []string `json:"layers,omitempty"`         // sha256: digests of its layer blobs, bottom first
	// How a layered image was verified when it was last imported: Signer
	// is the fingerprint of the key whose simple-signing signature was
	// accepted, Pinned says it was fetched by its manifest's digest.
	// Neither is an import that skipped the check (--insecure-options=image).
	Signer string `json:"signer,omitempty"`
	Pinned bool   `json:"pinned,omitempty"`
}

// initIndex creates index.db and its buckets if it does not exist yet. An
// existing index is left alone so that Open does not take bbolt's exclusive
// lock in every process.
func (s *Store) initIndex() error {
	if fi, err := os.Stat(s.indexPath()); err == nil && fi.Size() > 0 {
		return nil
	}
	return s.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketImages, bucketManifests} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) openIndex(readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(s.indexPath(), 0o600, &bolt.Options{Timeout: indexTimeout, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("opening image index %s: %w", s.indexPath(), err)
	}
	return db, nil
}

// view runs fn in a read-only transaction on a read-only open of the index.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	db, err := s.openIndex(true)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing image index: %w", cerr)
		}
	}()
	return db.View(fn)
}

// update runs fn in a read-write transaction; bbolt commits it durably.
func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	db, err := s.openIndex(false)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing image index: %w", cerr)
		}
	}()
	return db.Update(fn)
}

// lookup reads the record of id in a transaction of its own; a missing
// record is ErrNotFound.
func (s *Store) lookup(id string) (record, error) {
	var rec record
	err := s.view(func(tx *bolt.Tx) error {
		r, ok, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		rec = r
		return nil
	})
	return rec, err
}

// getRecord reads the record of id from a transaction. A missing bucket
// reads as an empty index.
func getRecord(tx *bolt.Tx, id string) (record, bool, error) {
	b := tx.Bucket(bucketImages)
	if b == nil {
		return record{}, false, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return record{}, false, nil
	}
	r, err := decodeRecord(id, v)
	if err != nil {
		return record{}, false, err
	}
	return r, true, nil
}

// decodeRecord parses an index entry and checks that its digest matches its
// ID, since blob paths are built from it.
func decodeRecord(id string, v []byte) (record, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return record{}, fmt.Errorf("reading index entry of %s: %w", id, err)
	}
	if len(r.Digest) != 2*idHexLen || !isLowerHex(r.Digest) || idFromDigest(r.Digest) != id {
		return record{}, fmt.Errorf("reading index entry of %s: digest %q does not match the ID", id, r.Digest)
	}
	if err := r.checkLayered(); err != nil {
		return record{}, fmt.Errorf("reading index entry of %s: %w", id, err)
	}
	return r, nil
}

// forEachRecord calls fn for each record whose ID starts with prefix, in ID
// order.
func forEachRecord(tx *bolt.Tx, prefix string, fn func(id string, r record) error) error {
	b := tx.Bucket(bucketImages)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && len(k) >= len(p) && string(k[:len(p)]) == prefix; k, v = c.Next() {
		r, err := decodeRecord(string(k), v)
		if err != nil {
			return err
		}
		if err := fn(string(k), r); err != nil {
			return err
		}
	}
	return nil
}

func putRecord(tx *bolt.Tx, id string, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b, err := tx.CreateBucketIfNotExists(bucketImages)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), v)
}

// addImage records an image whose blob is already in place. Importing an
// image again refreshes its import time and keeps its last use.
func (s *Store) addImage(id string, r record, manifest []byte) (record, error) {
	err := s.update(func(tx *bolt.Tx) error {
		old, ok, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if ok && old.LastUsed.After(r.LastUsed) {
			r.LastUsed = old.LastUsed
		}
		if err := putRecord(tx, id, r); err != nil {
			return err
		}
		mb, err := tx.CreateBucketIfNotExists(bucketManifests)
		if err != nil {
			return err
		}
		return mb.Put([]byte(id), manifest)
	})
	if err != nil {
		return record{}, fmt.Errorf("recording image %s in the index: %w", id, err)
	}
	return r, nil
}

// deleteImages removes the index entries of ids; missing ones are fine.
func (s *Store) deleteImages(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketImages, bucketManifests} {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			for _, id := range ids {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		return deleteTagsOf(tx, ids)
	})
	if err != nil {
		return fmt.Errorf("removing %d image(s) from the index: %w", len(ids), err)
	}
	return nil
}

// blobExists tells whether the blob of a record is in place; an index entry
// without its blob is an image whose removal was interrupted.
func (s *Store) blobExists(r record) (bool, error) {
	_, err := os.Lstat(s.blobPath(r.Digest))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("checking blob: %w", err)
	}
}
