package kit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SelfExe is the podctl binary that OpenSelf opens: the running one. A
// test binary that drives the library points it at a built, static podctl,
// as it does flavors.Self: the helper runs in the pod's root.
var SelfExe = "/proc/self/exe"

// OpenSelf opens the podctl binary for a helper that is executed through
// the descriptor (/proc/self/fd/N) inside a pod, where the podctl binary
// is not otherwise reachable. A process of the pod can get at the file a
// descriptor names (through /proc/PID/exe of the helper, or of a
// `#!/proc/self/exe` script the helper executes) and, once no process
// executes it any more, open it again for writing: that rewrote the host's
// runc in CVE-2019-5736. The file OpenSelf returns is not the host's file
// and cannot be written: it is the binary seen through a read-only
// overlay mount of its folder, detached from any mount tree (writes give
// EROFS). Where the kernel cannot make one (before Linux 5.2, or the
// binary was replaced on disk since podctl started) it is a sealed copy in
// memory (writes give EPERM).
//
// Measured here for an 8.5 MB binary: the overlay costs 0.3 to 0.55 ms; a
// memfd copy 3 to 18 ms, and 8.5 MB of memory for as long as it is held
// (a native pod's life). A read-only bind mount of the binary costs
// 0.07 ms but hands the pod the host's own inode, on a mount that
// CAP_SYS_ADMIN could clone read-write (open_tree, mount_setattr).
func OpenSelf() (*os.File, error) {
	files, err := OpenBinaries()
	if err != nil {
		return nil, err
	}
	return files[0], nil
}

// OpenBinaries opens the podctl binary as OpenSelf does, and each of the
// helper binaries named beside it (podctl-exec), through the same
// overlay: files[0] is podctl's, files[i] that of names[i-1], nil where
// there is no such file beside podctl.
func OpenBinaries(names ...string) ([]*os.File, error) {
	files, err := overlaySelf(names)
	if err == nil {
		return files, nil
	}
	files, cerr := sealedSelf(names)
	if cerr != nil {
		return nil, fmt.Errorf("opening podctl's binary read-only: %v; copying it: %w", err, cerr)
	}
	return files, nil
}

// BesideSelf is the path of the file name in the running podctl binary's
// folder, where podctl's helper programs are installed.
func BesideSelf(name string) (string, error) {
	path, err := selfPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(path), name), nil
}

// selfPath is the path of the running podctl binary.
func selfPath() (string, error) {
	if SelfExe != "/proc/self/exe" {
		return SelfExe, nil
	}
	path, err := os.Readlink(SelfExe)
	if err != nil {
		return "", fmt.Errorf("finding podctl's binary: %w", err)
	}
	return path, nil
}

// overlaySelf opens the running binary, and the files names beside it,
// through a read-only overlay of its folder. An overlay without an upper
// layer needs two lower ones that do not overlap: the second is an empty
// tmpfs. Both mounts are detached (fsmount): no mount namespace sees
// them, and they go with the last descriptor of a file.
func overlaySelf(names []string) ([]*os.File, error) {
	path, err := selfPath()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if !filepath.IsAbs(path) || strings.ContainsAny(dir, ":,\\") {
		return nil, fmt.Errorf("podctl's binary %q cannot be an overlay's layer", path)
	}
	// What each file is on the host, to know it again in the overlay.
	want := make([]unix.Stat_t, len(names)+1)
	if err := unix.Stat(SelfExe, &want[0]); err != nil {
		return nil, fmt.Errorf("looking at podctl's binary: %w", err)
	}
	present := make([]bool, len(names)+1)
	present[0] = true
	for i, n := range names {
		err := unix.Stat(filepath.Join(dir, n), &want[i+1])
		present[i+1] = err == nil && want[i+1].Mode&unix.S_IFMT == unix.S_IFREG
	}
	empty, err := detachedMount("tmpfs", "")
	if err != nil {
		return nil, err
	}
	defer unix.Close(empty)
	mnt, err := detachedMount("overlay", dir+":/proc/self/fd/"+strconv.Itoa(empty))
	if err != nil {
		return nil, err
	}
	defer unix.Close(mnt)
	files := make([]*os.File, len(names)+1)
	for i, n := range append([]string{filepath.Base(path)}, names...) {
		if !present[i] {
			continue
		}
		fd, err := unix.Openat(mnt, n, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("opening %s in the overlay: %w", n, err)
		}
		// The path may name another file by now (an upgrade of
		// podctl). The overlay has its own device number: the file's
		// size and times tell.
		var got unix.Stat_t
		if err := unix.Fstat(fd, &got); err != nil || got.Size != want[i].Size || got.Mtim != want[i].Mtim || got.Ctim != want[i].Ctim {
			unix.Close(fd)
			closeAll(files)
			return nil, fmt.Errorf("%s is no longer what podctl found", filepath.Join(dir, n))
		}
		files[i] = os.NewFile(uintptr(fd), filepath.Join(dir, n))
	}
	return files, nil
}

// closeAll closes the files that are open.
func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// detachedMount makes a read-only mount of a new filesystem of type
// fstype, with lowerdir for an overlay, and returns its descriptor.
func detachedMount(fstype, lowerdir string) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("making a %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if lowerdir != "" {
		if err := unix.FsconfigSetString(fsfd, "lowerdir", lowerdir); err != nil {
			return -1, fmt.Errorf("making a %s: lowerdir %s: %w", fstype, lowerdir, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("making a %s: %w", fstype, err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return -1, fmt.Errorf("mounting a %s: %w", fstype, err)
	}
	return fd, nil
}

// sealedSelf copies the running binary, and the files names beside it,
// each into a memfd sealed against any change.
func sealedSelf(names []string) ([]*os.File, error) {
	path, err := selfPath()
	if err != nil {
		return nil, err
	}
	files := make([]*os.File, len(names)+1)
	for i, p := range append([]string{SelfExe}, names...) {
		if i > 0 {
			p = filepath.Join(filepath.Dir(path), p)
			// As overlaySelf: a helper that is not a file beside
			// podctl is missing.
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				continue
			}
		}
		f, err := sealedCopy(p)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		files[i] = f
	}
	return files, nil
}

// sealedCopy copies the file at path into a memfd sealed against any
// change.
func sealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	name := filepath.Base(path)
	// MFD_EXEC: executable where vm.memfd_noexec would make it not;
	// kernels before 6.3 know no such flag.
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("making a memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, err
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the memfd: %w", err)
	}
	return f, nil
}
