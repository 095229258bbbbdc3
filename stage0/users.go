package stage0

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/datadir"
	"podctl/internal/errdefs"
	"podctl/internal/flock"
	"podctl/internal/fsutil"
	"podctl/internal/rootless"
	"podctl/lifecycle"
	"podctl/stage1"
)

// PrivateUsersOption is --private-users as given: Auto picks a free
// range, else UID and Count name one. Ownership is
// --private-users-ownership: "auto" (map where the kernel and the data
// directory's file system can, chown otherwise), stage1.OwnershipMap or
// stage1.OwnershipChown.
type PrivateUsersOption struct {
	Enabled   bool
	Auto      bool
	UID       uint32
	Count     uint32
	Ownership string
}

// ParsePrivateUsers reads --private-users: "auto" (or empty), UID, or
// UID:COUNT; "no" turns it off.
func ParsePrivateUsers(v string) (PrivateUsersOption, error) {
	o := PrivateUsersOption{Enabled: true, Count: stage1.DefaultUsers, Ownership: "auto"}
	switch v = strings.TrimSpace(v); v {
	case "", "auto", "yes", "true":
		o.Auto = true
		return o, nil
	case "no", "false":
		return PrivateUsersOption{}, nil
	}
	uid, count, hasCount := strings.Cut(v, ":")
	n, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return o, errdefs.New(ErrUsage, "--private-users=%s: %q is not a host uid: give auto, UID or UID:COUNT, such as --private-users=1000000:65536", v, uid)
	}
	o.UID = uint32(n)
	if hasCount {
		c, err := strconv.ParseUint(count, 10, 32)
		if err != nil || c == 0 {
			return o, errdefs.New(ErrUsage, "--private-users=%s: %q is not a number of ids: give auto, UID or UID:COUNT, such as --private-users=1000000:65536", v, count)
		}
		o.Count = uint32(c)
	}
	u := stage1.PrivateUsers{UID: o.UID, GID: o.UID, Count: o.Count, Ownership: stage1.OwnershipMap}
	if err := u.Check(); err != nil {
		return o, errdefs.New(ErrUsage, "--private-users=%s: %v", v, err)
	}
	return o, nil
}

// CheckOwnership refuses a --private-users-ownership podctl does not know.
func CheckOwnership(v string) error {
	switch v {
	case "auto", stage1.OwnershipMap, stage1.OwnershipChown:
		return nil
	}
	return errdefs.New(ErrUsage, "--private-users-ownership=%s: give auto, map (idmapped mounts) or chown (a chowned copy of each image tree)", v)
}

// Where auto ranges are taken from: blocks of DefaultUsers host ids from
// 0x80000 up to 0x6fff0000, the ids container managers leave to
// containers (nspawn's, rkt's), well above the host's users.
const (
	autoFirst = 0x80000
	autoLast  = 0x6fff0000
)

// allocateUsers gives pod id its range of host ids, none of whose ids any
// other pod in the data directory has: the range o names, or, for auto,
// the lowest free block. The range is reserved in DATA/users/<uuid>
// under DATA/users.lock; a reservation whose pod is gone is free again.
func allocateUsers(dataDir, id string, o PrivateUsersOption, overlay bool) (*stage1.PrivateUsers, error) {
	ownership, err := ownershipFor(dataDir, o.Ownership, overlay)
	if err != nil {
		return nil, err
	}
	dir := datadir.UsersDir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("reserving private users: %w", err)
	}
	lock, err := os.OpenFile(datadir.UsersLock(dataDir), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("reserving private users: %w", err)
	}
	defer lock.Close()
	if err := flock.Lock(lock, flock.Exclusive); err != nil {
		return nil, fmt.Errorf("reserving private users: %w", err)
	}
	taken, err := reservedUsers(dataDir)
	if err != nil {
		return nil, err
	}
	u := &stage1.PrivateUsers{UID: o.UID, GID: o.UID, Count: o.Count, Ownership: ownership}
	if o.Auto {
		if u.UID, err = freeBlock(taken); err != nil {
			return nil, err
		}
		u.GID = u.UID
	} else {
		for pod, t := range taken {
			if u.Overlaps(t) {
				return nil, errdefs.New(ErrUsage, "--private-users=%d:%d: host ids %s are pod %s's: choose other ids, or --private-users=auto", o.UID, o.Count, t, pod)
			}
		}
	}
	b, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	// Not fsynced: a prepared pod's reservation is made durable by
	// ToPrepared's syncfs, and a pod run at once is not running after a
	// power cut.
	if err := fsutil.WriteFile(filepath.Join(dir, id), b, 0o600, false); err != nil {
		return nil, fmt.Errorf("reserving private users: %w", err)
	}
	return u, nil
}

// reservedUsers reads the reservations of the pods still in the data
// directory, by pod UUID, and removes those of pods that are gone.
func reservedUsers(dataDir string) (map[string]*stage1.PrivateUsers, error) {
	dir := datadir.UsersDir(dataDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading private users' reservations: %w", err)
	}
	taken := map[string]*stage1.PrivateUsers{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			// A temporary file of a write that did not finish.
			continue
		}
		ok, err := lifecycle.Exists(dataDir, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("freeing the private users of pod %s: %w", name, err)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading private users' reservations: %w", err)
		}
		// Written by stage0 only (the data directory is root's); still
		// checked, as a manifest's.
		u, err := stage1.ParsePrivateUsers(string(b))
		if err != nil {
			return nil, fmt.Errorf("private users of pod %s: %w", name, err)
		}
		taken[name] = u
	}
	return taken, nil
}

// freeBlock is the first auto block no reservation overlaps.
func freeBlock(taken map[string]*stage1.PrivateUsers) (uint32, error) {
	for start := uint32(autoFirst); start <= autoLast; start += stage1.DefaultUsers {
		c := &stage1.PrivateUsers{UID: start, GID: start, Count: stage1.DefaultUsers}
		free := true
		for _, t := range taken {
			if c.Overlaps(t) {
				free = false
				break
			}
		}
		if free {
			return start, nil
		}
	}
	return 0, fmt.Errorf("--private-users=auto: every range from %d to %d is some pod's: remove pods with podctl gc or rm", autoFirst, autoLast)
}

// ownershipFor decides how the apps' trees are owned by the pod's ids:
// auto maps them where the data directory's file system takes idmapped
// mounts (and overlayfs takes idmapped layers, since Linux 5.19). Only an
// overlay's lower tree is mapped: a pod whose trees are copies
// (--no-overlay) gets them chowned.
func ownershipFor(dataDir, v string, overlay bool) (string, error) {
	if v == stage1.OwnershipMap && !overlay {
		return "", errdefs.New(ErrUsage, "--private-users-ownership=map maps overlays' image trees, and this pod's trees are copies (--no-overlay, or no overlayfs here): use chown or auto")
	}
	if v != "auto" && v != "" {
		return v, nil
	}
	if overlay && idmapSupported(dataDir) {
		return stage1.OwnershipMap, nil
	}
	return stage1.OwnershipChown, nil
}

// idmapSupported: Linux 5.19 or later, and a file system known to take
// idmapped mounts (tmpfs since 6.3).
func idmapSupported(dir string) bool {
	var un unix.Utsname
	if err := unix.Uname(&un); err != nil {
		return false
	}
	major, minor := kernelVersion(unix.ByteSliceToString(un.Release[:]))
	if major < 5 || major == 5 && minor < 19 {
		return false
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return false
	}
	switch sfs.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC:
		return true
	case unix.TMPFS_MAGIC:
		return major > 6 || major == 6 && minor >= 3
	}
	return false
}

// kernelVersion reads "6.18.44-..." as 6, 18.
func kernelVersion(release string) (major, minor int) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	major, _ = strconv.Atoi(parts[0])
	minor, _ = strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor
}

// shiftTree gives every file of a pod's private copy of an image tree
// to the pod's ids: an image's id N becomes the host's u.UID+N (GID+N).
// An id beyond the range becomes the pod's nobody (65534), or its last
// id. chown clears set-user-ID and set-group-ID bits, which are set
// again. The copy is the pod's own: the store's tree is not touched.
// A file of several hard links (which the copy keeps) is shifted once:
// shifted again, root's would become the pod's nobody's, theirs to write.
func shiftTree(root string, u *stage1.PrivateUsers) error {
	nobody := min(uint32(65534), u.Count-1)
	shift := func(id, base uint32) int {
		if id >= u.Count {
			id = nobody
		}
		return int(base + id)
	}
	type inode struct{ dev, ino uint64 }
	shifted := map[inode]bool{}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return fmt.Errorf("giving %s to the pod's users: %w", path, err)
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if shifted[inode{st.Dev, st.Ino}] {
				return nil
			}
			shifted[inode{st.Dev, st.Ino}] = true
		}
		if err := unix.Lchown(path, shift(st.Uid, u.UID), shift(st.Gid, u.GID)); err != nil {
			return fmt.Errorf("giving %s to the pod's users: %w", path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			if err := unix.Chmod(path, st.Mode&0o7777); err != nil {
				return fmt.Errorf("giving %s to the pod's users: %w", path, err)
			}
		}
		return nil
	})
}

// giveTree gives an app's folder to the pod's users: a chowned copy its
// tree, or, idmapped (stage1 maps the tree), the overlay's upper folder,
// which overlayfs writes with the host's ids of the pod's processes.
func giveTree(appDir string, u *stage1.PrivateUsers, overlay bool) error {
	switch {
	case u == nil:
		return nil
	case u.Ownership == stage1.OwnershipChown:
		return shiftTree(filepath.Join(appDir, lifecycle.AppRootfs), u)
	case overlay:
		upper := filepath.Join(appDir, lifecycle.AppUpper)
		if err := os.Lchown(upper, int(u.HostUID(0)), int(u.HostGID(0))); err != nil {
			return fmt.Errorf("giving %s to the pod's users: %w", upper, err)
		}
	}
	return nil
}

// checkPrivateUsers refuses --private-users where the flavor cannot keep
// it: fly does not isolate, and the systemd flavor shows the pod
// directory to its hooks through an idmapped mount, which the data
// directory's file system must take.
func checkPrivateUsers(o PrivateUsersOption, flavor, dataDir string, noOverlay bool) error {
	if !o.Enabled {
		return nil
	}
	if err := CheckOwnership(o.Ownership); err != nil {
		return err
	}
	if rootless.Active() {
		return errdefs.New(ErrUsage, "--private-users: an ordinary user's pods run in a user namespace already, mapped to the user's subordinate ids: leave the flag out")
	}
	if o.Ownership == stage1.OwnershipMap && noOverlay {
		return errdefs.New(ErrUsage, "--private-users-ownership=map maps overlays' image trees, and --no-overlay makes copies: use chown or auto")
	}
	if flavor != "native" && flavor != "systemd" {
		return errdefs.New(ErrUsage, "--private-users: the %s flavor cannot give a pod users of its own: use --stage1=native or --stage1=systemd", flavor)
	}
	if flavor == "systemd" && !idmapSupported(existingDir(dataDir)) {
		return errdefs.New(ErrUsage, "--private-users: the systemd flavor shows the pod to its hooks through an idmapped mount, which the file system of %s cannot take here (Linux 5.19 and ext4, xfs, btrfs, f2fs, or tmpfs from 6.3): use --stage1=native", dataDir)
	}
	return nil
}

// existingDir is dir, or its nearest parent that exists: the data
// directory is made only once a pod is.
func existingDir(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			return d
		}
	}
}
