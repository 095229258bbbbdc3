package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/appc/spec/schema/types"
	bolt "go.etcd.io/bbolt"
)

// Tags are names given to images after their import (image tag), kept in
// the index's tags bucket:
//
//	tags  -> "NAME" or "NAME:VERSION" -> {"id": image ID, "created": time}
//
// A tag makes its image found by that name as if its manifest had that
// name (and version label), with the tag's time as its import time: the
// newest of the images and tags matching a name wins (see Resolve). One
// tag names one image; tagging again moves it. Removing an image removes
// its tags. A podctl that does not know tags ignores the bucket.
var bucketTags = []byte("tags")

type tagRecord struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// ParseTag checks a tag, NAME or NAME:VERSION, where NAME is an appc image
// name (lower case letters, digits and -._~/) and VERSION is not empty.
// It returns the tag as the index keys it.
func ParseTag(tag string) (name, version string, err error) {
	name, version, hasVersion := strings.Cut(tag, ":")
	if strings.HasPrefix(name, idPrefix) {
		return "", "", fmt.Errorf("%w: tag %q would read as an image ID", ErrInvalid, tag)
	}
	if _, err := types.NewACIdentifier(name); err != nil {
		return "", "", fmt.Errorf("%w: tag %q: %q is not an image name (lower case letters, digits and -._~/, starting with a letter or digit)", ErrInvalid, tag, name)
	}
	if hasVersion && (version == "" || strings.ContainsAny(version, ": \t\n")) {
		return "", "", fmt.Errorf("%w: tag %q: the version after \":\" must be a word", ErrInvalid, tag)
	}
	return name, version, nil
}

func tagKey(name, version string) string {
	if version == "" {
		return name
	}
	return name + ":" + version
}

// Tag gives image id the name tag (NAME or NAME:VERSION), moving the tag
// if another image had it. The image must be in the store.
func (s *Store) Tag(id, tag string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("tagging image: %w", err)
	}
	name, version, err := ParseTag(tag)
	if err != nil {
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		r, ok, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if ok {
			ok, err = s.blobExists(r)
		}
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		v, err := json.Marshal(tagRecord{ID: id, Created: time.Now()})
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketTags)
		if err != nil {
			return err
		}
		return b.Put([]byte(tagKey(name, version)), v)
	})
	if err != nil {
		return fmt.Errorf("tagging image %s as %s: %w", id, tag, err)
	}
	return nil
}

// Untag removes the tag named exactly ref and returns the ID it named. A
// ref that is no tag gives an error wrapping ErrNotFound.
func (s *Store) Untag(ref string) (string, error) {
	var id string
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTags)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(ref))
		if v == nil {
			return ErrNotFound
		}
		var t tagRecord
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("reading tag: %w", err)
		}
		id = t.ID
		return b.Delete([]byte(ref))
	})
	if err != nil {
		return "", fmt.Errorf("removing tag %s: %w", ref, err)
	}
	return id, nil
}

// IsTag tells whether ref is exactly the name of a tag.
func (s *Store) IsTag(ref string) (bool, error) {
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketTags); b != nil {
			found = b.Get([]byte(ref)) != nil
		}
		return nil
	})
	return found, err
}

// forEachTag calls fn for each tag, in key order. A tag that cannot be
// read is skipped: it names nothing.
func forEachTag(tx *bolt.Tx, fn func(key string, t tagRecord) error) error {
	b := tx.Bucket(bucketTags)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var t tagRecord
		if json.Unmarshal(v, &t) != nil || checkID(t.ID) != nil {
			return nil
		}
		return fn(string(k), t)
	})
}

// tagsOf returns the tags of image id, sorted.
func tagsOf(tx *bolt.Tx, id string) ([]string, error) {
	tags := []string{}
	err := forEachTag(tx, func(key string, t tagRecord) error {
		if t.ID == id {
			tags = append(tags, key)
		}
		return nil
	})
	return tags, err
}

// tagsByID returns every image's tags, sorted.
func tagsByID(tx *bolt.Tx) (map[string][]string, error) {
	m := map[string][]string{}
	err := forEachTag(tx, func(key string, t tagRecord) error {
		m[t.ID] = append(m[t.ID], key)
		return nil
	})
	for _, v := range m {
		sort.Strings(v)
	}
	return m, err
}

// deleteTagsOf removes the tags of the images ids, in an update.
func deleteTagsOf(tx *bolt.Tx, ids []string) error {
	b := tx.Bucket(bucketTags)
	if b == nil {
		return nil
	}
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	var keys []string
	err := forEachTag(tx, func(key string, t tagRecord) error {
		if gone[t.ID] {
			keys = append(keys, key)
		}
		return nil
	})
	for _, k := range keys {
		if err := b.Delete([]byte(k)); err != nil {
			return err
		}
	}
	return err
}

// tagCandidates calls fn with each image a tag of that name (and version,
// if hasVersion) names, the tag's time and version, for resolveName.
func (s *Store) tagCandidates(tx *bolt.Tx, name string, fn func(id string, r record, version string, when time.Time) error) error {
	return forEachTag(tx, func(key string, t tagRecord) error {
		n, v, _ := strings.Cut(key, ":")
		if n != name {
			return nil
		}
		r, ok, err := getRecord(tx, t.ID)
		if err != nil || !ok {
			return err
		}
		if ok, err := s.blobExists(r); !ok || err != nil {
			return err
		}
		return fn(t.ID, r, v, t.Created)
	})
}
