package store

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"
)

// ImportRootfs imports a root filesystem as an image, like `podman import`:
// src is a folder or a tarball (plain, gzip, bzip2 or xz) holding the root
// filesystem. It builds an ACI whose manifest names the image name, carries
// labels (os and arch default to this machine's) and, if exec is not empty,
// an app running exec as root, and imports it as Import does. The ACI is
// streamed, never written out whole; the same folder imported twice gives
// the same ID as long as its files and their metadata did not change.
func (s *Store) ImportRootfs(src string, name string, exec []string, labels map[string]string) (Image, error) {
	manifest, err := rootfsManifest(name, exec, labels)
	if err != nil {
		return Image{}, fmt.Errorf("importing %s: %w", src, err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return Image{}, fmt.Errorf("importing %s: %w", src, err)
	}
	unlock, err := s.hold(false)
	if err != nil {
		return Image{}, fmt.Errorf("importing %s: %w", src, err)
	}
	defer unlock()

	pr, pw := io.Pipe()
	produced := make(chan error, 1)
	go func() {
		err := writeRootfsACI(pw, src, fi.IsDir(), manifest, s.xzReader())
		pw.CloseWithError(err)
		produced <- err
	}()
	img, err := s.importACI(pr)
	pr.CloseWithError(errImportDone) // stops the writer if the import gave up early
	if perr := <-produced; perr != nil && !errors.Is(perr, errImportDone) {
		err = perr // the cause, rather than its echo through the pipe
	}
	if err != nil {
		return Image{}, fmt.Errorf("importing %s: %w", src, err)
	}
	return img, nil
}

// errImportDone tells the ACI writer that nobody reads any more.
var errImportDone = errors.New("import finished")

// rootfsManifest builds and validates the manifest ImportRootfs writes.
func rootfsManifest(name string, exec []string, labels map[string]string) ([]byte, error) {
	im := schema.BlankImageManifest()
	n, err := types.NewACIdentifier(name)
	if err != nil {
		return nil, fmt.Errorf("%w: image name %q: %v", ErrInvalid, name, err)
	}
	im.Name = *n
	lm := make(map[types.ACIdentifier]string)
	if goos, arch, err := types.ToAppcOSArch(runtime.GOOS, runtime.GOARCH, ""); err == nil {
		lm["os"], lm["arch"] = goos, arch
	}
	for k, v := range labels {
		ln, err := types.NewACIdentifier(k)
		if err != nil {
			return nil, fmt.Errorf("%w: label name %q: %v", ErrInvalid, k, err)
		}
		lm[*ln] = v
	}
	if im.Labels, err = types.LabelsFromMap(lm); err != nil {
		return nil, fmt.Errorf("%w: labels: %v", ErrInvalid, err)
	}
	if len(exec) > 0 {
		im.App = &types.App{Exec: exec, User: "0", Group: "0"}
	}
	b, err := im.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrInvalid, err)
	}
	return b, nil
}

// writeRootfsACI writes an ACI to w: the manifest first, then the root
// filesystem under rootfs/, from a folder or a tarball.
func writeRootfsACI(w io.Writer, src string, isDir bool, manifest []byte, xz Decompressor) error {
	tw := tar.NewWriter(w)
	err := tw.WriteHeader(&tar.Header{
		Name:     aciManifest,
		Typeflag: tar.TypeReg,
		Mode:     0o644,
		Size:     int64(len(manifest)),
		ModTime:  time.Unix(0, 0),
	})
	if err == nil {
		_, err = tw.Write(manifest)
	}
	if err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	if isDir {
		err = tarFolder(tw, src)
	} else {
		err = retarRootfs(tw, src, xz)
	}
	if err != nil {
		return err
	}
	return tw.Close()
}

// tarFolder writes the folder root to tw as rootfs/, in lexical order and
// without following symlinks. Hard links become tar hard links, sockets are
// left out (they mean nothing once their server is gone), and file
// capabilities are kept. appc's aci.BuildWalker does much of this but drops a
// top-level file named "manifest" and panics on odd files, so the walk is
// here.
func tarFolder(tw *tar.Writer, root string) error {
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("reading rootfs: %w", err)
	}
	type inode struct{ dev, ino uint64 }
	links := make(map[inode]string)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading rootfs: %w", err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := aciRootfs
		if rel != "." {
			name = path.Join(aciRootfs, filepath.ToSlash(rel))
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading rootfs: %w", err)
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		var target string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return fmt.Errorf("reading rootfs: %w", err)
			}
		}
		hdr, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return fmt.Errorf("reading rootfs: %s: %w", p, err)
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", "" // the host's names mean nothing in the image
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !fi.IsDir() && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = name
			}
		}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeDir {
			fcaps, err := lgetxattr(p, "security.capability")
			if err != nil {
				return fmt.Errorf("reading rootfs: %s: %w", p, err)
			}
			if fcaps != nil {
				hdr.PAXRecords = map[string]string{paxXattr + "security.capability": string(fcaps)}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("reading rootfs: %w", err)
		}
		defer f.Close()
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("reading rootfs: %s: %w", p, err)
		}
		return nil
	})
}

// lgetxattr returns the value of an extended attribute of p, not following a
// symlink, or nil if p has none.
func lgetxattr(p, attr string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, attr, buf)
		switch {
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
			continue
		case err != nil:
			return nil, err
		}
		return buf[:n], nil
	}
}

// retarRootfs copies the tarball src (any compression) to tw with every
// name moved under rootfs/. Leading "/" and "./" are dropped as GNU tar
// does; ".." is refused here and everything else is checked by the import.
func retarRootfs(tw *tar.Writer, src string, xz Decompressor) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("reading rootfs: %w", err)
	}
	defer f.Close()
	in := &errReader{r: f}
	dr, release, err := decompress(in, xz)
	if err != nil {
		return fmt.Errorf("reading rootfs tarball: %w", in.blame(err))
	}
	defer release()
	tr := tar.NewReader(dr)
	rootWritten := false
	for {
		hdr, err := nextEntry(tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading rootfs tarball: %w", in.blame(err))
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := rootfsName(hdr.Name, hdr.Name)
		if err != nil {
			return fmt.Errorf("reading rootfs tarball: %w", err)
		}
		if !rootWritten && name != aciRootfs {
			// The tarball does not describe its root: give rootfs the
			// usual attributes.
			err := tw.WriteHeader(&tar.Header{Name: aciRootfs + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)})
			if err != nil {
				return fmt.Errorf("writing rootfs: %w", err)
			}
		}
		rootWritten = true
		out := *hdr
		out.Name = name
		if hdr.Typeflag == tar.TypeDir {
			out.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			if out.Linkname, err = rootfsName(hdr.Name, hdr.Linkname); err != nil {
				return fmt.Errorf("reading rootfs tarball: %w", err)
			}
		}
		// Keep extended attributes only; the other records restate fields
		// (path, size, times) this header sets anew.
		out.PAXRecords = nil
		for k, v := range hdr.PAXRecords {
			if strings.HasPrefix(k, paxXattr) {
				if out.PAXRecords == nil {
					out.PAXRecords = make(map[string]string)
				}
				out.PAXRecords[k] = v
			}
		}
		//lint:ignore SA1019 cleared so the writer does not record the attributes twice
		out.Xattrs = nil // the same attributes, already in PAXRecords
		out.Format = tar.FormatUnknown
		if err := tw.WriteHeader(&out); err != nil {
			return fmt.Errorf("writing %s: %w", out.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("reading rootfs tarball: %s: %w", hdr.Name, in.blame(err))
		}
	}
	// Compressed formats check their trailer only at the end of the stream.
	if _, err := io.Copy(io.Discard, dr); err != nil {
		return fmt.Errorf("reading rootfs tarball: %w", in.blame(err))
	}
	return nil
}

// rootfsName maps a path of a rootfs tarball to its path in the ACI.
func rootfsName(entry, p string) (string, error) {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		p = "."
	}
	clean, err := cleanName(entry, p)
	if err != nil {
		return "", err
	}
	if clean == "." {
		return aciRootfs, nil
	}
	return aciRootfs + "/" + clean, nil
}
