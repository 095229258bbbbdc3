package store

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// extractLayered renders a layered image into dir: its layers applied in
// order into dir/rootfs through the extractor (so nothing is written
// through a symlink or outside the tree), with OCI whiteouts, and its appc
// manifest into dir/manifest. A later layer's entry replaces an earlier
// one, but a folder over a folder keeps what is in it.
func (s *Store) extractLayered(id string, rec record, dir string, lim Limits) error {
	var manifest []byte
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketManifests); b != nil {
			manifest = append([]byte(nil), b.Get([]byte(id))...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(manifest) == 0 {
		return fmt.Errorf("%w: its manifest is missing from the index", ErrNotFound)
	}
	x, err := newTreeExtractor(dir)
	if err != nil {
		return err
	}
	defer x.close()
	count := tally{lim: lim.withDefaults()}
	var unpacked int64
	for i, d := range rec.Layers {
		n, err := s.applyLayer(x, d, &count, unpacked)
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, shortDigest(d), err)
		}
		unpacked += n
	}
	if err := os.WriteFile(filepath.Join(dir, aciManifest), manifest, 0o644); err != nil {
		return fmt.Errorf("writing tree manifest: %w", err)
	}
	return nil
}

// applyLayer applies the stored layer digest to the tree of x, counting
// against count; unpacked is what the layers below took of the size limit.
// It returns the layer's uncompressed size.
func (s *Store) applyLayer(x *extractor, digest string, count *tally, unpacked int64) (int64, error) {
	f, err := os.Open(s.blob256Path(digest))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w: its blob is gone", ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("opening blob: %w", err)
	}
	defer f.Close()
	dr, release, err := decompressLayer(bufio.NewReaderSize(f, 1<<20), s.zstdReader())
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	defer release()
	lr := &limitReader{r: dr, max: count.lim.MaxSize - unpacked}
	tr := tar.NewReader(lr)
	created := map[string]bool{} // what this layer wrote, which its opaque whiteouts keep
	for {
		hdr, err := nextEntry(tr)
		if err == io.EOF {
			break
		}
		if le := (*LimitError)(nil); errors.As(err, &le) {
			return 0, le
		}
		if err != nil {
			return 0, fmt.Errorf("%w: reading layer: %v", ErrInvalid, err)
		}
		if err := count.add(hdr); err != nil {
			return 0, err
		}
		le, err := checkLayerEntry(hdr)
		if err != nil {
			return 0, err
		}
		switch {
		case le.skip:
		case le.opaque:
			err = x.emptyDir(hdr.Name, le.rel, created)
		case le.whiteout:
			err = x.removePath(hdr.Name, le.rel)
		default:
			err = x.layerEntry(hdr, le, tr)
			created[le.rel] = true
		}
		if err != nil {
			return 0, err
		}
	}
	if err := x.finish(); err != nil {
		return 0, err
	}
	x.dirs = nil
	return lr.n, nil
}

// layerEntry writes one entry of a layer, first removing what an earlier
// layer put at its path unless both are folders.
func (x *extractor) layerEntry(hdr *tar.Header, le layerEntry, r io.Reader) error {
	if le.rel == "" {
		if le.kind != kindDir {
			return invalidEntry(hdr.Name, "is the root but not a directory")
		}
		x.dirs = append(x.dirs, dirAttrs{name: hdr.Name, rel: "", hdr: hdr})
		return nil
	}
	dir, base := path.Split(le.rel)
	pfd, err := x.openDir(hdr.Name, strings.TrimSuffix(dir, "/"), true)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && !(le.kind == kindDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		err = removeAllAt(pfd, base)
	} else if errors.Is(err, unix.ENOENT) {
		err = nil
	}
	unix.Close(pfd)
	if err != nil {
		return fmt.Errorf("extracting %q: %w", hdr.Name, err)
	}
	if le.kind == kindHardlink {
		// The extractor resolves hard link targets as ACI paths.
		target, _ := cleanName(hdr.Name, hdr.Linkname)
		h := *hdr
		h.Linkname = aciRootfs + "/" + target
		hdr = &h
	}
	return x.entry(hdr, hdr.Name, le.rel, le.kind, r)
}

// removePath removes rel from the tree, whatever it is; a path that is not
// there is fine.
func (x *extractor) removePath(name, rel string) error {
	dir, base := path.Split(rel)
	pfd, err := x.openDir(name, strings.TrimSuffix(dir, "/"), false)
	if errors.Is(err, unix.ENOENT) || errors.Is(errors.Unwrap(err), unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := removeAllAt(pfd, base); err != nil {
		return fmt.Errorf("applying whiteout %q: %w", name, err)
	}
	return nil
}

// emptyDir removes what is in folder rel but for what this layer wrote
// (keep); a folder that is not there is fine.
func (x *extractor) emptyDir(name, rel string, keep map[string]bool) error {
	fd, err := x.openDir(name, rel, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(errors.Unwrap(err), unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	names, err := readNamesAt(fd)
	if err != nil {
		return fmt.Errorf("applying whiteout %q: %w", name, err)
	}
	for _, n := range names {
		if keep[path.Join(rel, n)] {
			continue
		}
		if err := removeAllAt(fd, n); err != nil {
			return fmt.Errorf("applying whiteout %q: %w", name, err)
		}
	}
	return nil
}

// readNamesAt lists the entries of the open folder fd.
func readNamesAt(fd int) ([]string, error) {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(dfd), ".")
	defer d.Close()
	return d.Readdirnames(-1)
}

// removeAllAt removes name in the folder dfd and, if it is a folder, all
// that is in it, never following a symlink.
func removeAllAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readNamesAt(fd)
	for _, n := range names {
		if err == nil {
			err = removeAllAt(fd, n)
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}
