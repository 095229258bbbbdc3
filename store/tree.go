package store

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
)

// Tree returns the path of the rendered root filesystem of image id
// (trees/<id>/rootfs), rendering it from the blob first if it is not there
// yet. Pods use it read-only, as an overlay lower directory. Concurrent calls
// for the same image, in one process or several, each render aside in tmp/
// and race to rename their copy in; the losers discard theirs and all return
// the same path.
func (s *Store) Tree(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", fmt.Errorf("rendering image: %w", err)
	}
	dst := s.treePath(id)
	if treeComplete(dst) {
		return filepath.Join(dst, aciRootfs), nil
	}
	unlock, err := s.hold(false)
	if err != nil {
		return "", fmt.Errorf("rendering image %s: %w", id, err)
	}
	defer unlock()
	if treeComplete(dst) { // rendered while we waited for the lock
		return filepath.Join(dst, aciRootfs), nil
	}
	if err := s.render(id); err != nil {
		return "", fmt.Errorf("rendering image %s: %w", id, err)
	}
	return filepath.Join(dst, aciRootfs), nil
}

// treeComplete tells whether trees/<id> is there. A tree is renamed in whole,
// with its manifest, and renamed out whole before it is removed.
func treeComplete(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, aciManifest))
	return err == nil
}

// render builds the tree of id in tmp/ and renames it into trees/.
func (s *Store) render(id string) error {
	rec, err := s.lookup(id)
	if err != nil {
		return err
	}
	blob, err := os.Open(s.blobPath(rec.Digest))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: its blob is gone", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("opening blob: %w", err)
	}
	defer blob.Close()

	tmp, err := os.MkdirTemp(s.tmpDir(), "tree-*")
	if err != nil {
		return fmt.Errorf("creating tree: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if rec.layered() {
		err = s.extractLayered(id, rec, tmp, renderLimits(s.currentLimits(), rec))
	} else {
		err = extractACI(bufio.NewReaderSize(blob, 1<<20), tmp, renderLimits(s.currentLimits(), rec), false)
	}
	if err != nil {
		return err
	}
	if err := syncTree(tmp); err != nil {
		return err
	}

	dst := s.treePath(id)
	err = renameNoReplace(tmp, dst)
	switch {
	case errors.Is(err, os.ErrExist) && treeComplete(dst):
		// Another renderer won the race; its tree is the same.
		return nil // the deferred RemoveAll discards ours
	case errors.Is(err, os.ErrExist):
		return fmt.Errorf("%s has no manifest: it was damaged from outside; remove the image and import it again", dst)
	case err != nil:
		return fmt.Errorf("storing tree: %w", err)
	}
	done = true
	return fsutil.SyncDir(s.treeDir())
}

// renderLimits are the limits a stored image renders under: lim, raised to
// what its import accepted, so that an image imported under a raised limit
// renders without it. The blob is counted again all the same, since the
// record may predate limits or the blob may have changed on disk.
func renderLimits(lim Limits, rec record) Limits {
	lim.MaxSize = max(lim.MaxSize, rec.Size, rec.FileSize)
	lim.MaxEntries = max(lim.MaxEntries, rec.Entries)
	return lim
}

// newTreeExtractor makes the rootfs folder of a tree being rendered in
// dir and an extractor that writes beneath it.
func newTreeExtractor(dir string) (*extractor, error) {
	rootfs := filepath.Join(dir, aciRootfs)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, fmt.Errorf("creating tree: %w", err)
	}
	x, err := newExtractor(rootfs)
	if err != nil {
		return nil, fmt.Errorf("creating tree: %w", err)
	}
	return x, nil
}

// extractACI renders an ACI read from r into dir: dir/rootfs and
// dir/manifest. Every entry is checked again as it is written (see
// extractor), and counted against lim; errors about the archive wrap
// ErrInvalid and name the entry. walkOnly makes the extractor resolve paths
// as on kernels without openat2.
func extractACI(r io.Reader, dir string, lim Limits, walkOnly bool) error {
	lim = lim.withDefaults()
	x, err := newTreeExtractor(dir)
	if err != nil {
		return err
	}
	defer x.close()
	x.noAt2 = walkOnly

	var manifest []byte
	count := tally{lim: lim}
	tr := tar.NewReader(&limitReader{r: r, max: lim.MaxSize})
	for {
		hdr, err := nextEntry(tr)
		if err == io.EOF {
			break
		}
		if le := (*LimitError)(nil); errors.As(err, &le) {
			return le
		}
		if err != nil {
			return fmt.Errorf("%w: reading blob: %v", ErrInvalid, err)
		}
		if err := count.add(hdr); err != nil {
			return err
		}
		kind := entryKindOf(hdr.Typeflag)
		if kind == kindSkip {
			continue
		}
		name, err := cleanName(hdr.Name, hdr.Name)
		if err != nil {
			return err
		}
		if name == aciManifest {
			if manifest, err = io.ReadAll(io.LimitReader(tr, maxManifestSize)); err != nil {
				return fmt.Errorf("reading manifest: %w", err)
			}
			continue
		}
		rel, ok := rootfsRel(name)
		if !ok {
			if name == "." {
				continue
			}
			return invalidEntry(hdr.Name, "is neither the manifest nor under rootfs/")
		}
		if kind == 0 {
			return invalidEntry(hdr.Name, "has unsupported type %q", hdr.Typeflag)
		}
		if err := x.entry(hdr, hdr.Name, rel, kind, tr); err != nil {
			return err
		}
	}
	if err := x.finish(); err != nil {
		return err
	}
	if manifest == nil {
		return fmt.Errorf("%w: the archive has no manifest", ErrInvalid)
	}
	if err := os.WriteFile(filepath.Join(dir, aciManifest), manifest, 0o644); err != nil {
		return fmt.Errorf("writing tree manifest: %w", err)
	}
	return nil
}

// syncTree flushes a whole tree with one syncfs(2) on its filesystem, far
// cheaper than an fsync per file.
func syncTree(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("syncing tree: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncing tree: %w", &os.PathError{Op: "syncfs", Path: dir, Err: err})
	}
	return nil
}

// removeTree removes trees/<id>. It renames the tree into tmp/ first, so
// that a crash never leaves a half tree under trees/: a tree there is always
// whole. A missing tree is fine.
func (s *Store) removeTree(id string) error {
	src := s.treePath(id)
	aside := filepath.Join(s.tmpDir(), fmt.Sprintf("rm-%s-%d", id, time.Now().UnixNano()))
	err := os.Rename(src, aside)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing tree %s: %w", id, err)
	}
	if err := fsutil.SyncDir(s.treeDir()); err != nil {
		return err
	}
	// From here on a failure only leaves garbage in tmp/ for GC.
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("removing tree %s: %w", id, err)
	}
	return nil
}
