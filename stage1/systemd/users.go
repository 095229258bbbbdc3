package systemd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// A pod with private users (--private-users) is booted by nspawn in a user
// namespace that maps the pod's ids to its host range
// (--private-users=UID:COUNT), and nspawn changes the owner of nothing
// (--private-users-ownership=off): its own idmapping covers only the
// root folder, and the stage1 root is mostly mounts. The boot helper,
// still the host's root in the host's user namespace, makes what the pod
// sees its own instead, with a user namespace of the pod's mapping:
//
//	opt/stage2/<app>/rootfs  the overlay over the idmapped image tree (or
//	                         the chowned copy), volumes idmapped, as native's
//	usr/, lib/...            the host's, idmapped read-only: root's in the pod
//	podctl/pod               the pod directory, idmapped, read-only but for
//	                         the apps' folders and the hooks' own, which the
//	                         hooks, the pod's root, write as the host's root
//	                         does without private users (bindPod)
//	etc/, run/, ...          the few inodes the helper makes, chowned
//	podctl/secrets           a tmpfs of the pod's root's
//	podctl/devices/N         nodes of the pod's own, in a tmpfs: the host's
//	                         /dev cannot be idmapped
//	podctl/cgroups/<app>/N   cgroup.procs and tasks given to the pod's root,
//	                         for the exec helper to join; limits stay root's
//
// The pod's systemd gets its own cgroup from nspawn, which gives it to the
// pod's root. A pod on a network is started in its network namespace
// (enterNetns), which nspawn could not join.

// helperUserns holds a user namespace with the pod's mapping while the
// boot helper opens it.
const helperUserns = "systemd-userns"

// usersArgs are nspawn's options for a pod with private users u: nspawn
// makes the pod's user namespace with the pod's range and leaves every
// owner as it is (the boot helper has shown the pod its trees).
func usersArgs(u *stage1.PrivateUsers) []string {
	if u == nil {
		return nil
	}
	return []string{
		"--private-users=" + strconv.FormatUint(uint64(u.UID), 10) + ":" + strconv.FormatUint(uint64(u.Count), 10),
		"--private-users-ownership=off",
	}
}

// checkUsers refuses a range nspawn cannot make: it shifts uids and gids
// by the same amount.
func checkUsers(u *stage1.PrivateUsers) error {
	if u != nil && u.GID != u.UID {
		return fmt.Errorf("private users %s: systemd-nspawn maps gids from the uid it maps root to, and this range's gids start elsewhere: use --stage1=native", u)
	}
	return nil
}

// bindHost binds a folder of the host into the stage1 root read-only,
// shown through the pod's mapping when it has one (userns), so that the
// host's root's files are the pod's root's there, as nspawn would show
// them. A file system that cannot be idmapped is bound as it is: its
// files are then the pod's nobody's, which is no less safe.
func bindHost(src, dst string, userns *os.File) error {
	if userns == nil {
		return bindRO(src, dst)
	}
	if err := kit.BindIdmapped(src, dst, userns, true); err != nil {
		return bindRO(src, dst)
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("making %s read-only in the stage1 root: %w", src, err)
	}
	return nil
}

// bindPod binds the pod directory into the stage1 root at dst, for the
// hooks. A pod with private users sees it through its mapping, so that
// the hooks, the pod's root, read and write the pod's files, which stay
// the host's root's on disk; and read-only but for each app's folder and
// the hooks' own (lifecycle.DirHooks), which they write: the pod's
// systemd, an unprivileged user now, cannot write the records podctl acts
// on (the pid, the cgroups, the networks), and its mounts are locked
// read-only in its user namespace.
func bindPod(p *lifecycle.Pod, dst string, specs []kit.AppSpec, userns *os.File) error {
	if userns == nil {
		if err := unix.Mount(p.Path(), dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding the pod into the stage1 root: %w", err)
		}
		return nil
	}
	if err := kit.BindIdmapped(p.Path(), dst, userns, false); err != nil {
		return fmt.Errorf("binding the pod into the stage1 root for its private users: %w", err)
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("making the pod read-only in the stage1 root: %w", err)
	}
	writable := []string{lifecycle.DirHooks}
	for _, s := range specs {
		writable = append(writable, lifecycle.AppDir(s.Name))
	}
	for _, w := range writable {
		if err := kit.BindIdmapped(p.FilePath(w), filepath.Join(dst, w), userns, false); err != nil {
			return fmt.Errorf("binding the pod into the stage1 root for its private users: %w", err)
		}
	}
	return nil
}

// giveRoot gives the inodes the boot helper made in the stage1 root (its
// folders, /etc, the units) to the pod's root, so that the pod's systemd
// may write them as it may without private users. What is mounted there
// keeps its owners: the walk stops at every mount point.
func giveRoot(root string, u *stage1.PrivateUsers) error {
	ms, err := lifecycle.MountPointsUnder(root)
	if err != nil {
		return err
	}
	mounted := map[string]bool{}
	for _, m := range ms {
		mounted[filepath.Clean(m)] = true
	}
	uid, gid := int(u.HostUID(0)), int(u.HostGID(0))
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if mounted[path] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("giving the stage1 root to the pod's users: %w", err)
		}
		return nil
	})
}

// giveCgroups lets the pod's root move a process into each app's limit
// cgroups (their cgroup.procs and tasks), as the app's exec helper does
// (kit.JoinCgroups). The limits themselves stay the host's root's.
func giveCgroups(specs []kit.AppSpec, u *stage1.PrivateUsers) error {
	uid, gid := int(u.HostUID(0)), int(u.HostGID(0))
	for _, s := range specs {
		for _, d := range s.LimitDirs {
			for _, f := range []string{"cgroup.procs", "tasks"} {
				err := os.Lchown(filepath.Join(d, f), uid, gid)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("letting the pod's root join the cgroups of app %s: %w", s.Name, err)
				}
			}
		}
	}
	return nil
}

// podUserns makes the user namespace of the pod's mapping (newUserns),
// from this process's own binary.
func podUserns(u *stage1.PrivateUsers) (*os.File, error) {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("making the pod's user namespace: %w", err)
	}
	defer self.Close()
	return kit.NewUserNamespace(self, helperUserns, u, false)
}

// refuseEnterUsers refuses to enter a pod with private users: a command
// entered would be the host's root, not the pod's, since the enter helper
// cannot join the user namespace nspawn made (a process with threads may
// not, and the helper is born in namespaces the pod's root owns, which a
// new namespace of the same mapping has no rights in).
func refuseEnterUsers(p *lifecycle.Pod) error {
	_, m, err := p.PodManifest()
	if err != nil {
		return err
	}
	u, err := stage1.ReadPrivateUsers(m)
	if err != nil {
		return err
	}
	if u != nil {
		return fmt.Errorf("pod %s has private users (%s), and podctl enter cannot give a command the pod's user namespace on the systemd flavor: it would run as the host's root", p.UUID, u)
	}
	return nil
}

// enterNetns moves the calling thread, for good, into the pod's network
// namespace (path), so that nspawn, started from it, runs there and keeps
// it as it would keep the host's. nspawn would join it itself from inside
// the pod's user namespace, which has no rights on a namespace the host's
// root made; the pod's root has none either, so it cannot change the
// pod's network. Nor could it bind a port below 1024, which needs the
// right in the namespace's owner: every port is made free to bind there,
// as container engines do.
func enterNetns(path string) error {
	// Never given back: the thread stays in the pod's network.
	runtime.LockOSThread()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("joining the pod's network namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining the pod's network namespace: %w", err)
	}
	// The network sysctls are those of the opening thread's namespace.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0\n"), 0o644); err != nil {
		return fmt.Errorf("letting the pod's root bind the ports below 1024: %w", err)
	}
	return nil
}

// devicesForUsers makes, in a tmpfs of the stage1 root's at dir, a node
// for each of the pod's devices, the pod's root's, with the host's node's
// permissions: a host node is the host's root's, which the pod's root is
// not, and the host's device file system cannot be idmapped. The pod may
// chmod its nodes, never the host's; its device cgroup still decides what
// it opens.
func devicesForUsers(dir string, devs []stage1.Device, u *stage1.PrivateUsers) error {
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0700,size=64k"+ownerOptions(u)); err != nil {
		return fmt.Errorf("mounting the pod's devices in the stage1 root: %w", err)
	}
	for i, d := range devs {
		var st unix.Stat_t
		if err := unix.Stat(d.Host, &st); err != nil {
			return fmt.Errorf("device %s: %w", d.Host, err)
		}
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
			return fmt.Errorf("device %s is not a device node", d.Host)
		}
		dst := filepath.Join(dir, strconv.Itoa(i))
		if err := unix.Mknod(dst, st.Mode&(unix.S_IFMT|0o777), int(st.Rdev)); err != nil {
			return fmt.Errorf("device %s: making the pod's node: %w", d.Host, err)
		}
		if err := unix.Lchown(dst, int(u.HostUID(0)), int(u.HostGID(0))); err != nil {
			return fmt.Errorf("device %s: giving the pod's node to its root: %w", d.Host, err)
		}
		// mknod took the umask off.
		if err := unix.Chmod(dst, st.Mode&0o777); err != nil {
			return fmt.Errorf("device %s: %w", d.Host, err)
		}
	}
	return nil
}

// mountTree mounts an app's overlay root (kit.MountTree), its image tree
// idmapped on itself once for all the apps of that image: all are
// mounted in the boot helper's one mount namespace, and a mount already
// idmapped cannot be again.
func mountTree(s *kit.AppSpec, mapped map[string]bool) error {
	if s.Lower == "" || s.Userns == nil {
		return kit.MountTree(s)
	}
	lower, err := filepath.EvalSymlinks(s.Lower)
	if err != nil {
		return fmt.Errorf("mounting the root of app %s: %w", s.Name, err)
	}
	if mapped[lower] {
		return kit.MountOverlay(s)
	}
	if err := kit.MountTree(s); err != nil {
		return err
	}
	mapped[lower] = true
	return nil
}
