package kit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/appc/spec/schema/types"

	"podctl/stage1"
)

// mountPointReadOnly reports whether the app's image declares a readOnly
// mount point for a mount of volume on path: by the volume's name, as the
// volume joined it, or by its path, whatever volume the user put there.
func mountPointReadOnly(mps []types.MountPoint, volume types.ACName, path string) bool {
	for _, mp := range mps {
		if mp.ReadOnly && (mp.Name == volume || filepath.Clean(mp.Path) == filepath.Clean(path)) {
			return true
		}
	}
	return false
}

// imageTree is an app's image tree that empty volumes are filled from:
// the overlay's lower folder, or the app's copied root.
type imageTree struct {
	Dir string
	// Users are the pod's private users, if it has them. With
	// OwnershipChown the tree is a copy chowned into their range, while
	// the volumes are shown through the pod's mapping (idmapped): the
	// copies get the image's own ids back.
	Users *stage1.PrivateUsers
}

// owner is the owner a copy of a file of t owned by uid and gid gets.
func (t imageTree) owner(uid, gid uint32) (int, int) {
	if u := t.Users; u != nil && u.Ownership == stage1.OwnershipChown {
		if uid >= u.UID && uid-u.UID < u.Count {
			uid -= u.UID
		}
		if gid >= u.GID && gid-u.GID < u.Count {
			gid -= u.GID
		}
	}
	return int(uid), int(gid)
}

// copyUp copies what the image tree holds at path (a folder) into dst, a
// new empty volume's folder, as Docker fills a new volume: files, folders
// and links with their modes and owners; device nodes, FIFOs and sockets
// are left out. Both sides are reached through os.Root, so a link in the
// image (which is hostile) is copied as a link and never followed, and
// nothing is written outside dst. A missing path, or one that is not a
// folder, copies nothing.
func copyUp(tree imageTree, path, dst string) error {
	src, err := os.OpenRoot(tree.Dir)
	if err != nil {
		return fmt.Errorf("opening the image's root: %w", err)
	}
	defer src.Close()
	rel := strings.TrimPrefix(filepath.Clean("/"+path), "/")
	if rel == "" {
		rel = "."
	}
	fi, err := src.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s in the image: %w", path, err)
	}
	out, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	sub, err := src.OpenRoot(rel)
	if err != nil {
		return fmt.Errorf("reading %s in the image: %w", path, err)
	}
	defer sub.Close()
	return fs.WalkDir(sub.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %s in the image: %w", filepath.Join(path, name), err)
		}
		if name == "." {
			return nil
		}
		if err := copyEntry(sub, out, name, tree.owner); err != nil {
			return fmt.Errorf("copying %s from the image: %w", filepath.Join(path, name), err)
		}
		return nil
	})
}

// copyEntry copies one entry, name, from src to the same name in dst,
// owned as owner says.
func copyEntry(src, dst *os.Root, name string, owner func(uid, gid uint32) (int, int)) error {
	fi, err := src.Lstat(name)
	if err != nil {
		return err
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.IsDir():
		if err := dst.Mkdir(name, 0o700); err != nil {
			return err
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := src.Readlink(name)
		if err != nil {
			return err
		}
		if err := dst.Symlink(target, name); err != nil {
			return err
		}
		if st != nil {
			uid, gid := owner(st.Uid, st.Gid)
			return dst.Lchown(name, uid, gid)
		}
		return nil
	case fi.Mode().IsRegular():
		if err := copyFile(src, dst, name); err != nil {
			return err
		}
	default:
		return nil
	}
	if st != nil {
		uid, gid := owner(st.Uid, st.Gid)
		if err := dst.Lchown(name, uid, gid); err != nil {
			return err
		}
	}
	// After the change of owner, which clears setuid and setgid bits;
	// through a descriptor: Root.Chmod asks fchmodat not to follow links,
	// which kernels before 6.6 refuse.
	f, err := dst.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
}

// copyFile copies a regular file's content, to a file it creates.
func copyFile(src, dst *os.Root, name string) error {
	in, err := src.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// Not synced: the volume is as new as the pod's run, which a power cut
	// ends anyway.
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
