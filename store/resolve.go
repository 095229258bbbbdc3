package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/appc/spec/schema/types"
	bolt "go.etcd.io/bbolt"
)

// Resolve returns the full ID of the image ref names. ref is one of:
//
//   - a full image ID, or a longer digest (such as the 128 hex digits of
//     sha512sum), which is cut to an ID;
//   - a unique prefix of an ID, at least "sha512-" and 2 hex digits;
//   - an image name, or name:version (the "version" label). Several images
//     may match: the most recently imported wins. name:latest matches the
//     version label "latest" if an image has it, and otherwise any version,
//     as a bare name does. The name of an OCI or Docker image also
//     matches in its other Docker spellings (busybox,
//     docker.io/library/busybox, index.docker.io/library/busybox).
//
// No match gives an error wrapping ErrNotFound, a prefix matching several
// IDs one wrapping ErrAmbiguous, and a malformed ID prefix one wrapping
// ErrInvalid. Resolve only reads the index.
func (s *Store) Resolve(ref string) (string, error) {
	var id string
	var err error
	if strings.HasPrefix(ref, idPrefix) {
		id, err = s.resolveID(ref)
	} else {
		id, err = s.resolveName(ref)
	}
	if err != nil {
		return "", fmt.Errorf("resolving %q: %w", ref, err)
	}
	return id, nil
}

func (s *Store) resolveID(ref string) (string, error) {
	hex := strings.ToLower(strings.TrimPrefix(ref, idPrefix))
	if len(hex) > idHexLen {
		hex = hex[:idHexLen]
	}
	if len(hex) < minPrefixHex || !isLowerHex(hex) {
		return "", fmt.Errorf("%w: an image ID is %q and at least %d hex digits", ErrInvalid, idPrefix, minPrefixHex)
	}
	var matches []string
	err := s.view(func(tx *bolt.Tx) error {
		return forEachRecord(tx, idPrefix+hex, func(id string, r record) error {
			ok, err := s.blobExists(r)
			if ok {
				matches = append(matches, id)
			}
			return err
		})
	})
	switch {
	case err != nil:
		return "", err
	case len(matches) == 0:
		return "", ErrNotFound
	case len(matches) > 1:
		return "", fmt.Errorf("%w: %d images have IDs starting with %s%s", ErrAmbiguous, len(matches), idPrefix, hex)
	}
	return matches[0], nil
}

func (s *Store) resolveName(ref string) (string, error) {
	// The version follows the last colon after the last slash: a
	// registry's host may have a port (127.0.0.1:5000/busybox:1.36).
	name, version, hasVersion := ref, "", false
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		name, version, hasVersion = ref[:i], ref[i+1:], true
	}
	if name == "" {
		return "", fmt.Errorf("%w: empty image name", ErrInvalid)
	}
	// best is the newest image of that name with the wanted version;
	// newest is the newest of any version, for name:latest. A tag counts
	// as its image with the tag's name, version and time.
	var best, newest string
	var bestTime, newestTime time.Time
	consider := func(id, v string, when time.Time) {
		if newest == "" || when.After(newestTime) {
			newest, newestTime = id, when
		}
		if hasVersion && v != version {
			return
		}
		if best == "" || when.After(bestTime) {
			best, bestTime = id, when
		}
	}
	err := s.view(func(tx *bolt.Tx) error {
		err := forEachRecord(tx, "", func(id string, r record) error {
			if r.Name != name && !(r.layered() && layeredNameMatches(r.Name, name)) {
				return nil
			}
			if ok, err := s.blobExists(r); !ok || err != nil {
				return err
			}
			consider(id, r.Labels["version"], r.ImportTime)
			return nil
		})
		if err != nil {
			return err
		}
		return s.tagCandidates(tx, name, func(id string, _ record, v string, when time.Time) error {
			consider(id, v, when)
			return nil
		})
	})
	switch {
	case err != nil:
		return "", err
	case best != "":
		return best, nil
	case hasVersion && version == "latest" && newest != "":
		return newest, nil
	}
	return "", ErrNotFound
}

// layeredNameMatches tells whether a layered image stored as stored (an
// appc name, as layeredManifest made it) is the one the user names as
// name: in its other Docker Hub spellings (busybox, docker.io/library/
// busybox), and as typed before appc's sanitizing (127.0.0.1:5000/app is
// stored as 127.0.0.1_5000/app).
func layeredNameMatches(stored, name string) bool {
	if dockerName(stored) == dockerName(name) {
		return true
	}
	san, err := types.SanitizeACIdentifier(name)
	return err == nil && dockerName(san) == dockerName(stored)
}
