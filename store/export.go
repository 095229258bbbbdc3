package store

import (
	"bufio"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
)

// ErrExists is returned when an export or extraction would replace what is
// already at its destination.
var ErrExists = errors.New("already exists")

// Image returns what the index tells about image id, its tags included.
func (s *Store) Image(id string) (Image, error) {
	if err := checkID(id); err != nil {
		return Image{}, fmt.Errorf("reading image: %w", err)
	}
	var img Image
	err := s.view(func(tx *bolt.Tx) error {
		r, ok, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if ok, err := s.blobExists(r); !ok || err != nil {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		img = imageOf(id, r)
		img.Tags, err = tagsOf(tx, id)
		return err
	})
	if err != nil {
		return Image{}, fmt.Errorf("reading image %s: %w", id, err)
	}
	return img, nil
}

// openBlob opens the blob of image id, the uncompressed ACI as imported.
func (s *Store) openBlob(id string) (*os.File, record, error) {
	if err := checkID(id); err != nil {
		return nil, record{}, err
	}
	rec, err := s.lookup(id)
	if err != nil {
		return nil, record{}, err
	}
	f, err := os.Open(s.blobPath(rec.Digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, record{}, fmt.Errorf("%w: its blob is gone", ErrNotFound)
	}
	if err != nil {
		return nil, record{}, fmt.Errorf("opening blob: %w", err)
	}
	return f, rec, nil
}

// Export writes the ACI of image id, the uncompressed tar the store keeps
// (so importing the file gives id again), to path. The copy is hashed on
// the way and must match the stored digest. It is written crash-safely: to
// a temporary file beside path, fsynced, renamed to path, and the folder
// fsynced, so path is either absent (or its old content) or the whole
// image. An OCI or Docker image is written as an OCI archive (an OCI
// image layout in a tar file), which fetch takes as oci-archive:. An existing path is an error wrapping ErrExists unless overwrite
// is set; a folder is never replaced.
func (s *Store) Export(id, path string, overwrite bool) error {
	if err := s.export(id, path, overwrite); err != nil {
		return fmt.Errorf("exporting image %s to %s: %w", id, path, err)
	}
	return nil
}

func (s *Store) export(id, path string, overwrite bool) error {
	if err := checkExportPath(path, overwrite); err != nil {
		return err
	}
	blob, rec, err := s.openBlob(id)
	if err != nil {
		return err
	}
	defer blob.Close()
	if rec.layered() {
		return s.exportOCIArchive(id, rec, path, overwrite)
	}
	return writeExport(path, overwrite, func(w io.Writer) error {
		h := sha512.New()
		var size int64
		if fi, err := blob.Stat(); err == nil {
			size = fi.Size()
		}
		it := s.reporter().Start(id, size)
		_, err := io.Copy(io.MultiWriter(w, h), it.Reader(blob))
		it.Done(err)
		if err != nil {
			return fmt.Errorf("copying blob: %w", err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != rec.Digest {
			return fmt.Errorf("the stored blob does not match its digest (sha512 %s): it was damaged; remove the image and import it again", got)
		}
		return nil
	})
}

// checkExportPath refuses a folder, and an existing file unless overwrite.
func checkExportPath(path string, overwrite bool) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s %w as a folder: give a file name", path, ErrExists)
		}
		if !overwrite {
			return fmt.Errorf("%s %w: pass --overwrite to replace it", path, ErrExists)
		}
	}
	return nil
}

// writeExport writes path with what write gives, crash-safely: a
// temporary file beside it, fsynced, renamed over path (or beside it,
// without overwrite, refusing a path made meanwhile), and the folder
// fsynced.
func writeExport(path string, overwrite bool, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := createTemp(dir, "."+base+".tmp-*", path)
	if err != nil {
		return err
	}
	defer f.discard()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if overwrite {
		err = os.Rename(f.Name(), path)
	} else {
		err = renameNoReplace(f.Name(), path)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s %w: pass --overwrite to replace it", path, ErrExists)
		}
	}
	if err != nil {
		return err
	}
	f.keep()
	return fsutil.SyncDir(dir)
}

// Extract writes the files of image id's ACI into dir, which must not
// exist or be an empty folder: the manifest and rootfs/, or with
// rootfsOnly the root filesystem alone. The archive goes through the same
// extractor as the store's trees (no entry is written through a symlink or
// outside dir; device nodes are left out), into a temporary folder beside
// dir that is synced and renamed to dir once whole.
func (s *Store) Extract(id, dir string, rootfsOnly bool) error {
	if err := s.extractTo(id, dir, rootfsOnly); err != nil {
		return fmt.Errorf("extracting image %s to %s: %w", id, dir, err)
	}
	return nil
}

// Render writes the root filesystem pods of image id see into dir, as
// Extract does: with rootfsOnly the tree alone, else the manifest beside
// rootfs/. An ACI's rendered tree is its own rootfs, since Import refuses
// images with dependencies; a layered image's is its layers applied in
// order, which Extract gives too.
func (s *Store) Render(id, dir string, rootfsOnly bool) error {
	if err := s.extractTo(id, dir, rootfsOnly); err != nil {
		return fmt.Errorf("rendering image %s to %s: %w", id, dir, err)
	}
	return nil
}

func (s *Store) extractTo(id, dir string, rootfsOnly bool) error {
	dir = filepath.Clean(dir)
	if err := checkEmptyDest(dir); err != nil {
		return err
	}
	blob, rec, err := s.openBlob(id)
	if err != nil {
		return err
	}
	defer blob.Close()
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // empty, or what is left after a failure
	work := filepath.Join(tmp, "aci")
	if err := os.Mkdir(work, 0o755); err != nil {
		return err
	}
	lim := renderLimits(s.currentLimits(), rec)
	if rec.layered() {
		// Its layers, applied in order: what a pod of it sees.
		err = s.extractLayered(id, rec, work, lim)
	} else {
		err = extractACI(bufio.NewReaderSize(blob, 1<<20), work, lim, false)
	}
	if err != nil {
		return err
	}
	src := work
	if rootfsOnly {
		src = filepath.Join(work, aciRootfs)
	}
	if err := syncTree(src); err != nil {
		return err
	}
	// rename(2) replaces an empty folder and refuses any other (os.Rename
	// would refuse any folder).
	if err := unix.Rename(src, dir); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("%s %w and is not an empty folder", dir, ErrExists)
		}
		return &os.LinkError{Op: "rename", Old: src, New: dir, Err: err}
	}
	return fsutil.SyncDir(parent)
}

// checkEmptyDest refuses a destination that is anything but missing or an
// empty folder (a symlink to a folder included).
func checkEmptyDest(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s %w and is not a folder", dir, ErrExists)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%s %w and is not empty: give a new or empty folder", dir, ErrExists)
	}
	return nil
}
