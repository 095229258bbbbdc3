package store

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/fsutil"
)

// Import reads an ACI (a tar, plain or compressed with gzip, bzip2 or xz,
// told apart by their magic numbers) and stores it. The whole archive is
// read and checked first (layout, manifest, every entry name and link, see
// validate.go); only then does its blob become visible, followed by its
// index entry. Importing an image that is already stored stores nothing
// new and refreshes its import time. Errors about the archive itself wrap
// ErrInvalid; an image over the store's Limits is refused with a
// *LimitError as soon as it passes them, before the rest is decompressed.
func (s *Store) Import(r io.Reader) (Image, error) {
	img, _, err := s.ImportNoting(r)
	return img, err
}

// ImportNotes are what an import found worth telling but not refusing.
type ImportNotes struct {
	// Devices are the image's device nodes (paths in the image), which
	// are never extracted: stage1 gives each pod its /dev.
	Devices []string
}

// ImportNoting is Import, and also returns what the caller should tell.
func (s *Store) ImportNoting(r io.Reader) (Image, ImportNotes, error) {
	unlock, err := s.hold(false)
	if err != nil {
		return Image{}, ImportNotes{}, fmt.Errorf("importing image: %w", err)
	}
	defer unlock()
	var notes ImportNotes
	img, err := s.importNoting(r, &notes)
	if err != nil {
		return Image{}, ImportNotes{}, fmt.Errorf("importing image: %w", err)
	}
	return img, notes, nil
}

// importACI does Import's work; the caller holds the store lock.
func (s *Store) importACI(r io.Reader) (Image, error) {
	return s.importNoting(r, nil)
}

// importNoting is importACI, filling notes if not nil.
func (s *Store) importNoting(r io.Reader, notes *ImportNotes) (Image, error) {
	src := &errReader{r: r}
	dr, release, err := decompress(src, s.xzReader())
	if err != nil {
		return Image{}, src.blame(err)
	}
	defer release()

	f, err := createTemp(s.tmpDir(), "blob-*", "blob")
	if err != nil {
		return Image{}, err
	}
	defer f.discard()

	// Everything decompressed goes to the blob and the hash as the tar
	// reader consumes it, up to the size limit. The blob is written sparse
	// so that a bomb of zeros costs no disk before it is refused.
	lim := s.currentLimits()
	count := tally{lim: lim}
	h := sha512.New()
	sw := newSparseWriter(f.File)
	bw := bufio.NewWriterSize(sw, 1<<20)
	sink := &errWriter{w: io.MultiWriter(h, bw)}
	tee := io.TeeReader(&limitReader{r: dr, max: lim.MaxSize}, sink)
	blame := func(err error) error {
		if sink.err != nil {
			return fmt.Errorf("writing blob: %w", sink.err)
		}
		return src.blame(err)
	}

	v := newValidator()
	tr := tar.NewReader(tee)
	for {
		hdr, err := nextEntry(tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return Image{}, blame(err)
		}
		if err := count.add(hdr); err != nil {
			return Image{}, err
		}
		name, err := v.check(hdr)
		if err != nil {
			return Image{}, err
		}
		if name == aciManifest {
			if v.manifest, err = io.ReadAll(tr); err != nil {
				return Image{}, blame(err)
			}
		}
	}
	// Read on to the end of the stream: padding after the tar's end blocks
	// belongs to the blob and its hash, and compressed formats only check
	// their trailer (checksum, size) at the end.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return Image{}, blame(err)
	}
	if dc, ok := dr.(io.Closer); ok {
		if err := dc.Close(); err != nil {
			return Image{}, blame(err)
		}
	}
	im, err := v.finish()
	if err != nil {
		return Image{}, err
	}
	if notes != nil {
		notes.Devices = v.devices
	}

	if err := bw.Flush(); err != nil {
		return Image{}, fmt.Errorf("writing blob: %w", err)
	}
	if err := sw.finish(); err != nil {
		return Image{}, fmt.Errorf("writing blob: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Image{}, fmt.Errorf("syncing blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return Image{}, fmt.Errorf("writing blob: %w", err)
	}
	digest := hex.EncodeToString(h.Sum(nil))
	id := idFromDigest(digest)
	err = renameNoReplace(f.Name(), s.blobPath(digest))
	switch {
	case errors.Is(err, os.ErrExist):
		// The same content is already stored: keep that one.
		if err := os.Remove(f.Name()); err != nil {
			return Image{}, fmt.Errorf("removing duplicate blob: %w", err)
		}
	case err != nil:
		return Image{}, fmt.Errorf("storing blob: %w", err)
	}
	f.keep()
	if err := fsutil.SyncDir(s.blobDir()); err != nil {
		return Image{}, err
	}

	now := time.Now()
	labels := make(map[string]string, len(im.Labels))
	for _, l := range im.Labels {
		labels[l.Name.String()] = l.Value
	}
	rec, err := s.addImage(id, record{
		Digest:     digest,
		Name:       im.Name.String(),
		Labels:     labels,
		ImportTime: now,
		LastUsed:   now,
		Size:       sink.n,
		Entries:    count.entries,
		FileSize:   count.declared,
	}, v.manifest)
	if err != nil {
		return Image{}, err
	}
	return imageOf(id, rec), nil
}

// decompress detects the format of an archive by its magic number and
// returns a reader of the plain tar, and a function that releases it; xz
// archives go through xz, refused without one. (appc's aci.DetectFileType
// does the same, but its package links net/http and crypto/tls into
// podctl, whose start-up, paid by every pod's helper processes, they
// double.)
func decompress(r io.Reader, xz Decompressor) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		gr, err := gzip.NewReader(br)
		return gr, func() {}, err
	case bytes.HasPrefix(head, []byte("BZh")):
		return bzip2.NewReader(br), func() {}, nil
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		if xz == nil {
			return nil, nil, fmt.Errorf("%w: an xz archive, and this podctl has no xz decoder", ErrInvalid)
		}
		rc, err := xz(br)
		if err != nil {
			return nil, nil, err
		}
		return rc, func() { rc.Close() }, nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return br, func() {}, nil
	}
	return nil, nil, fmt.Errorf("%w: not a tar archive, plain or compressed with gzip, bzip2 or xz", ErrInvalid)
}

// errReader remembers the first error of the reader it wraps, so that a
// failure to read the source is not reported as a corrupt archive.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// blame returns err as a reading error if the source failed, and as an
// invalid archive otherwise (truncated, bad checksum, bad header).
func (e *errReader) blame(err error) error {
	switch {
	case e.err != nil:
		return fmt.Errorf("reading archive: %w", e.err)
	case errors.Is(err, ErrInvalid):
		return err
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// errWriter counts what it writes and remembers the first write error.
type errWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	e.n += int64(n)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// renameNoReplace renames oldpath to newpath unless newpath exists, in which
// case it returns an error wrapping os.ErrExist. Filesystems without
// renameat2 fall back on link+unlink for files, which is as atomic.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOTEMPTY):
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrExist}
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS):
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	fi, serr := os.Lstat(oldpath)
	if serr != nil {
		return serr
	}
	if fi.IsDir() {
		// rename(2) only replaces an empty folder, and trees never are.
		err := os.Rename(oldpath, newpath)
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrExist}
		}
		return err
	}
	if err := os.Link(oldpath, newpath); err != nil {
		return err // os.Link reports an existing newpath as os.ErrExist
	}
	return os.Remove(oldpath)
}
