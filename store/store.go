// Package store keeps podctl's images: appc ACIs stored by content, a small
// index that names them, and the root filesystems rendered from them that
// pods use as their overlay lower directories.
//
// # Layout
//
// The store is one folder (podctl passes <datadir>/images), created 0700:
//
//	images/
//	├── blobs/sha512/<128 hex>   the uncompressed ACI tar, named by its SHA-512
//	├── trees/<id>/
//	│   ├── rootfs/              the rendered root filesystem, shared read-only by pods
//	│   └── manifest             the image manifest (JSON)
//	├── index.db                 bbolt: id -> {digest, name, labels, import time, last used, size}
//	│                            and id -> manifest JSON; tag -> id (tag.go)
//	├── tmp/                     blobs and trees being built, trees being removed
//	├── layout                   the store's layout version (see below)
//	└── lock                     flock: shared while importing, rendering or preparing pods;
//	                             exclusive while removing images (image rm, image gc)
//
// An image ID is "sha512-" followed by the first 64 hex digits of the SHA-512
// of the uncompressed tar, as in rkt and the appc spec.
//
// # Invariants
//
// Nothing is visible before it is whole, and a crash at any point leaves the
// store consistent:
//
//   - A blob is written and hashed in tmp/, fsynced, renamed into blobs/ (an
//     existing blob of the same name is the same content: that is success)
//     and blobs/sha512 is fsynced. Only then is the index entry that names it
//     written. An archive is read and checked to its end before its blob is
//     renamed in, so a corrupt or hostile archive leaves nothing behind.
//   - A tree is rendered in tmp/, synced (syncfs) and renamed into trees/ as a
//     whole. Two processes rendering the same image race on that rename; the
//     loser discards its copy. A tree is removed by renaming it into tmp/
//     first, so a half-removed tree is never visible.
//   - An image exists when its index entry exists and its blob does. Removal
//     deletes the blob first, so that it frees space before anything has to
//     be written (removing an image works with a full disk); an index entry
//     whose blob is gone is a half-removed image: it is hidden from Resolve,
//     List and Manifest, and Remove or GC finish removing it.
//   - Whatever is in tmp/ when nobody holds the store lock is garbage from a
//     crash: Open removes it when it can take the exclusive lock without
//     waiting, and GC always does.
//
// # Layout version
//
// The layout above is version 1 (LayoutVersion). The layout file records it
// as JSON, {"layout":1,"written_by":"podctl 0.1.0-dev"} (internal/layout),
// written durably by Open when it makes the store, before the index. A
// store made before versions were recorded has no layout file and is
// version 1; podctl does not add the file to it (absence means version 1,
// and writing it later could overwrite the version a newer podctl wrote
// meanwhile). Open reads the file before it creates or cleans anything and
// refuses a newer version, or a file it cannot read, with one line naming
// the version and the podctl that wrote it; every store command opens the
// store through it.
//
// # Concurrency
//
// Many podctl processes use one store at once and none of them is a server.
// The index is opened for each operation and closed right after, read-only
// (a shared lock on index.db) for Resolve, Manifest, List and Tree, and
// read-write (an exclusive lock, held for one short transaction) for Import,
// Touch, Remove and GC. bbolt keeps the index consistent across crashes.
//
// The store lock (images/lock) orders the rest. Import and ImportRootfs take
// it shared for their own duration, and so does Tree when it has to render;
// Remove and GC take it exclusive. stage0 holds it shared (LockShared) from choosing an image until
// the pod records the tree it uses, and image gc holds it exclusive
// (LockExclusive) while it works out which images pods use and collects the
// others. When a Store already holds the lock through LockShared or
// LockExclusive, its methods rely on that hold instead of taking the lock
// again, so a caller never deadlocks against itself; that bookkeeping is per
// Store, so goroutines that need to exclude each other use separate Stores.
//
// # Rendering
//
// A tree is rendered from the blob with openat2(RESOLVE_BENEATH|
// RESOLVE_NO_SYMLINKS) (or an O_NOFOLLOW walk on kernels before 5.6), so no
// entry is ever written through a symlink or outside the tree, whatever the
// archive holds. Modes (with setuid, setgid and sticky bits), ownership,
// modification times and extended attributes are kept. Device nodes are
// skipped: a pod gets its /dev from stage1, never from an image.
//
// # Limits
//
// An image may cost the disk only so much (Limits, set per Store with
// SetLimits): its uncompressed tar stream, and the sum of the sizes its files
// declare, each stay under a size limit, and its entries under a count. The
// stream is cut off as soon as it passes the limit, so a decompression bomb
// is refused after reading the limit's worth, and a refused import leaves
// nothing. The index records what an import accepted, and rendering counts
// the blob again under the larger of that and the Store's limits. Runs of
// zeros are written as holes, in blobs and in trees, so a sparse entry stays
// sparse.
//
// Image dependencies and path whitelists are not supported yet: Import
// refuses such images with an error wrapping errors.ErrUnsupported.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"podctl/internal/progress"
	"strings"
	"sync"
	"time"
)

// The two parts of an ACI, as the appc spec names them.
const (
	aciManifest = "manifest"
	aciRootfs   = "rootfs"
)

// Errors returned by the store, wrapped with context; test with errors.Is.
var (
	// ErrNotFound is returned when no image matches a reference or an ID.
	ErrNotFound = errors.New("image not found")
	// ErrAmbiguous is returned when an ID prefix matches several images.
	ErrAmbiguous = errors.New("ambiguous image reference")
	// ErrInvalid is returned for archives that are corrupt, malformed or
	// hostile, invalid manifests, and malformed references or IDs.
	ErrInvalid = errors.New("invalid image")
)

const (
	// idPrefix starts every image ID.
	idPrefix = "sha512-"
	// idHexLen is how many hex digits of the digest an image ID keeps.
	idHexLen = 64
	// minPrefixHex is the shortest ID prefix Resolve accepts.
	minPrefixHex = 2
)

// Store is an image store in one folder. Its methods are safe for use by
// several goroutines and processes at once; see the package doc for locking.
type Store struct {
	dir string
	// touchEvery is how old a recorded last use may be before Touch
	// writes a new one.
	touchEvery time.Duration

	mu        sync.Mutex
	shared    int                // holds taken through LockShared and not released yet
	exclusive int                // holds taken through LockExclusive and not released yet
	limits    Limits             // see SetLimits
	zstd      Decompressor       // see SetZstdReader
	xz        Decompressor       // see SetXzReader
	progress  *progress.Reporter // see SetProgress
}

// SetProgress sets where exports report how far they have come, a blob
// at a time; without it they report nothing.
func (s *Store) SetProgress(r *progress.Reporter) {
	s.mu.Lock()
	s.progress = r
	s.mu.Unlock()
}

func (s *Store) reporter() *progress.Reporter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress
}

// Open opens the store in dir, creating its folders (0700), layout file
// and index if they are missing, and removes what crashed imports left in
// tmp/ if no other process is using the store. A store whose layout is
// newer than this podctl knows, or unreadable, is refused before anything
// in it is touched (*layout.NewerError, *layout.DamagedError).
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, touchEvery: time.Minute}
	fresh, err := s.checkLayout()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{s.blobDir(), s.treeDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	if fresh {
		if err := s.writeLayout(); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	if err := s.initIndex(); err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	// A failure here only leaves garbage in tmp/ for GC, which reports it.
	_ = s.cleanTmpIfIdle()
	return s, nil
}

// Close releases the store. The index is never held open between calls, so
// there is nothing to flush; locks taken with LockShared or LockExclusive are
// released by their own unlock functions.
func (s *Store) Close() error {
	return nil
}

// Dir returns the store's folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) blobDir() string    { return filepath.Join(s.dir, "blobs", "sha512") }
func (s *Store) treeDir() string    { return filepath.Join(s.dir, "trees") }
func (s *Store) tmpDir() string     { return filepath.Join(s.dir, "tmp") }
func (s *Store) indexPath() string  { return filepath.Join(s.dir, "index.db") }
func (s *Store) lockPath() string   { return filepath.Join(s.dir, "lock") }
func (s *Store) layoutPath() string { return filepath.Join(s.dir, FileLayout) }

func (s *Store) blobPath(digest string) string { return filepath.Join(s.blobDir(), digest) }
func (s *Store) treePath(id string) string     { return filepath.Join(s.treeDir(), id) }

// idFromDigest returns the image ID of a full SHA-512 hex digest.
func idFromDigest(digest string) string { return idPrefix + digest[:idHexLen] }

// checkID returns an error wrapping ErrInvalid unless id is a full image ID.
// Every path built from an ID goes through it.
func checkID(id string) error {
	hex, ok := strings.CutPrefix(id, idPrefix)
	if !ok || len(hex) != idHexLen || !isLowerHex(hex) {
		return fmt.Errorf("%w: %q is not an image ID (sha512- and %d hex digits)", ErrInvalid, id, idHexLen)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
