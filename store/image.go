package store

import (
	"fmt"
	"sort"
	"time"

	"github.com/appc/spec/schema"
	bolt "go.etcd.io/bbolt"
)

// Image is what the index tells about one image.
type Image struct {
	// ID is "sha512-" and the first 64 hex digits of the SHA-512 of the
	// uncompressed ACI.
	ID string `json:"id"`
	// Name is the image name from its manifest.
	Name string `json:"name"`
	// Labels are the manifest's labels (version, os, arch, ...).
	Labels map[string]string `json:"labels"`
	// ImportTime is when the image was last imported.
	ImportTime time.Time `json:"import_time"`
	// LastUsed is when a pod last used the image (Touch), or its first
	// import time if none has.
	LastUsed time.Time `json:"last_used"`
	// Size is the size of the uncompressed ACI (or layers) in bytes.
	Size int64 `json:"size"`
	// Tags are the other names of the image (image tag), NAME or
	// NAME:VERSION, sorted.
	Tags []string `json:"tags"`
	// Format is the image's format: FormatACI, FormatOCI or
	// FormatDockerArchive.
	Format string `json:"format"`
	// Reference is what a layered image was fetched as; Digest is the
	// digest of its manifest, which it was pulled by.
	Reference string `json:"reference,omitempty"`
	Digest    string `json:"digest,omitempty"`
	// Signer is the fingerprint of the key whose signature a layered image
	// was accepted with; Pinned says it was fetched by its digest. Both
	// empty: its check was skipped (--insecure-options=image).
	Signer string `json:"signer,omitempty"`
	Pinned bool   `json:"pinned,omitempty"`
}

func imageOf(id string, r record) Image {
	labels := r.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	format := r.Format
	if format == "" {
		format = FormatACI
	}
	return Image{ID: id, Name: r.Name, Labels: labels, ImportTime: r.ImportTime, LastUsed: r.LastUsed, Size: r.Size,
		Format: format, Reference: r.Reference, Digest: r.ManifestDigest, Signer: r.Signer, Pinned: r.Pinned, Tags: []string{}}
}

// List returns the stored images, oldest import first. Images whose
// removal was cut short (blob gone, index entry left) are not listed.
func (s *Store) List() ([]Image, error) {
	var images []Image
	err := s.view(func(tx *bolt.Tx) error {
		tags, err := tagsByID(tx)
		if err != nil {
			return err
		}
		return forEachRecord(tx, "", func(id string, r record) error {
			ok, err := s.blobExists(r)
			if ok {
				img := imageOf(id, r)
				if t := tags[id]; t != nil {
					img.Tags = t
				}
				images = append(images, img)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	sort.SliceStable(images, func(i, j int) bool { return images[i].ImportTime.Before(images[j].ImportTime) })
	return images, nil
}

// Manifest returns the manifest of image id, parsed and as stored (the
// bytes found in the archive). It reads the index only.
func (s *Store) Manifest(id string) (*schema.ImageManifest, []byte, error) {
	if err := checkID(id); err != nil {
		return nil, nil, fmt.Errorf("reading manifest: %w", err)
	}
	var raw []byte
	var rec record
	err := s.view(func(tx *bolt.Tx) error {
		r, ok, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		var m []byte
		if b := tx.Bucket(bucketManifests); b != nil {
			m = b.Get([]byte(id))
		}
		if !ok || m == nil {
			return ErrNotFound
		}
		rec, raw = r, append([]byte(nil), m...) // m is only valid in the transaction
		return nil
	})
	if err == nil {
		var ok bool
		if ok, err = s.blobExists(rec); err == nil && !ok {
			err = ErrNotFound
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest of %s: %w", id, err)
	}
	im, err := parseManifest(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest of %s: %w", id, err)
	}
	return im, raw, nil
}

// Touch records that a pod uses image id now; GC keeps images used within
// its grace period.
func (s *Store) Touch(id string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("touching image: %w", err)
	}
	now := time.Now()
	// Image gc counts last use in hours: a write (and its fsyncs) on every
	// pod start would buy nothing, so a recent enough record is left alone.
	r, err := s.lookup(id)
	if err != nil {
		return fmt.Errorf("touching image %s: %w", id, err)
	}
	if now.Sub(r.LastUsed) < s.touchEvery && !r.LastUsed.After(now) {
		return nil
	}
	err = s.update(func(tx *bolt.Tx) error {
		r, ok, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		r.LastUsed = now
		return putRecord(tx, id, r)
	})
	if err != nil {
		return fmt.Errorf("touching image %s: %w", id, err)
	}
	return nil
}
