package systemd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// The stage1 root is a folder of the pod, stage1/rootfs, that
// systemd-nspawn boots. Nothing of the host is copied into it: the host's
// /usr (and /bin, /lib... where they are not links into /usr) is bound
// read-only, so the pod's PID 1 is the host's systemd. Only /etc is the
// pod's own: a machine ID, a root user, and the units that run the apps.
//
//	stage1/rootfs/
//	  usr/                  host /usr, read-only
//	  bin -> usr/bin ...    as on the host
//	  etc/machine-id        the pod's UUID
//	  etc/systemd/system/   <app>.service, podctl-pod.target, default.target
//	  opt/stage2/<app>/rootfs   each app's root (its overlay)
//	  podctl/pod            the pod directory, read-write (status, logs)
//	  podctl/podctl         the podctl binary, read-only (the units' hooks)
//
// All mounts are made in the private mount namespace of the process that
// then becomes systemd-nspawn, so they vanish with the pod. A pod with
// private users sees them through its mapping (users.go).

// hostTopDirs are the top-level folders the stage1 root takes from the
// host: each is a link into /usr on merged-/usr systems, or a read-only bind.
var hostTopDirs = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// buildRoot lays out and mounts the stage1 root for the apps, then writes
// their units. It runs in the boot helper's private mount namespace.
func buildRoot(p *lifecycle.Pod, self string, specs []kit.AppSpec, u unitOptions) (string, error) {
	root := p.FilePath(lifecycle.DirStage1Root)
	var users *stage1.PrivateUsers
	var userns *os.File
	if len(specs) > 0 {
		// A mutable pod may start with no app; it has no private users.
		users, userns = specs[0].Users, specs[0].Userns
	}
	dirs := []string{"usr", "etc/systemd/system", "podctl/pod", "proc", "sys", "dev", "run", "tmp", "var/tmp", "root"}
	secrets := false
	for _, s := range specs {
		dirs = append(dirs, filepath.Join("opt/stage2", s.Name, "rootfs"))
		secrets = secrets || len(s.SecretEnv) > 0
	}
	if secrets {
		dirs = append(dirs, strings.TrimPrefix(inSecrets, "/"))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", fmt.Errorf("making the stage1 root: %w", err)
		}
	}
	if secrets {
		// Secret values are written only here, in memory: the tmpfs is in
		// this helper's mount namespace (and nspawn's copy of it), and the
		// folder under it in the pod stays empty.
		if err := unix.Mount("tmpfs", filepath.Join(root, inSecrets), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"+ownerOptions(users)); err != nil {
			return "", fmt.Errorf("mounting the tmpfs for secrets in the stage1 root: %w", err)
		}
	}
	if err := bindHost("/usr", filepath.Join(root, "usr"), userns); err != nil {
		return "", err
	}
	if err := bindHostTops(root, userns); err != nil {
		return "", err
	}
	// The podctl binary, for the hooks the units run.
	bin := filepath.Join(root, "podctl", "podctl")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		return "", fmt.Errorf("making the stage1 root: %w", err)
	}
	if err := bindRO(self, bin); err != nil {
		return "", err
	}
	if err := bindPod(p, filepath.Join(root, "podctl", "pod"), specs, userns); err != nil {
		return "", err
	}
	// The image trees already shown through the pod's mapping: apps of
	// one image share it.
	mapped := map[string]bool{}
	for i := range specs {
		if err := bindApp(root, &specs[i], mapped); err != nil {
			return "", err
		}
	}
	devs, err := podDevices(p, specs)
	if err != nil {
		return "", err
	}
	if err := bindDevices(root, devs, users); err != nil {
		return "", err
	}
	if err := writeEtc(root, p, specs, u); err != nil {
		return "", err
	}
	if users != nil {
		if err := giveRoot(root, users); err != nil {
			return "", err
		}
		if err := giveCgroups(specs, users); err != nil {
			return "", err
		}
	}
	return root, nil
}

// bindHostTops gives the stage1 root the host's top-level folders of
// programs and libraries (hostTopDirs): the same link, or a read-only bind.
func bindHostTops(root string, userns *os.File) error {
	for _, d := range hostTopDirs {
		host := "/" + d
		fi, err := os.Lstat(host)
		if err != nil {
			continue
		}
		dst := filepath.Join(root, d)
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(host)
			if err != nil {
				return fmt.Errorf("reading %s: %w", host, err)
			}
			os.Remove(dst)
			if err := os.Symlink(target, dst); err != nil {
				return fmt.Errorf("making the stage1 root: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("making the stage1 root: %w", err)
		}
		if err := bindHost(host, dst, userns); err != nil {
			return err
		}
	}
	return nil
}

// bindApp mounts an app's root (its overlay and volumes first) where the
// stage1 root keeps it, and the cgroups of its limits, which the pod's own
// view of the hierarchies (read-only, rooted at the pod) would not let its
// exec helper join.
func bindApp(root string, s *kit.AppSpec, mapped map[string]bool) error {
	target := filepath.Join(root, "opt/stage2", s.Name, "rootfs")
	if err := mountTree(s, mapped); err != nil {
		return err
	}
	if err := kit.MountVolumes(s); err != nil {
		return err
	}
	if err := unix.Mount(s.Rootfs, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the root of app %s: %w", s.Name, err)
	}
	for i, d := range s.LimitDirs {
		dst := filepath.Join(root, inCgroups, s.Name, strconv.Itoa(i))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("making the stage1 root: %w", err)
		}
		if err := unix.Mount(d, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding the cgroup of app %s: %w", s.Name, err)
		}
	}
	return nil
}

// bindDevices binds the host's nodes of the pod's devices (--device) into
// the stage1 root, below inDevices, one file each by its index: the exec
// helper, whose device cgroup refuses mknod, binds them into the app's
// /dev (kit.makeNode checks each is the device it names). The binds are
// read-only, so that nothing in the pod can chmod or chown the host's
// node. A pod with private users gets nodes of its own instead
// (devicesForUsers).
func bindDevices(root string, devs []stage1.Device, users *stage1.PrivateUsers) error {
	if len(devs) == 0 {
		return nil
	}
	dir := filepath.Join(root, inDevices)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making the stage1 root: %w", err)
	}
	if users != nil {
		return devicesForUsers(dir, devs, users)
	}
	for i, d := range devs {
		dst := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(dst, nil, 0o600); err != nil {
			return fmt.Errorf("making the stage1 root: %w", err)
		}
		if err := bindRO(d.Host, dst); err != nil {
			return fmt.Errorf("device %s: %w", d.Host, err)
		}
	}
	return nil
}

// devicesInside are the pod's devices with the nodes the stage1 root
// keeps of them (bindDevices).
func devicesInside(devs []stage1.Device) []stage1.Device {
	out := slices.Clone(devs)
	for i := range out {
		out[i].Host = filepath.Join(inDevices, strconv.Itoa(i))
	}
	return out
}

// bindRO binds src on dst read-only.
func bindRO(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s into the stage1 root: %w", src, err)
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("making %s read-only in the stage1 root: %w", src, err)
	}
	return nil
}

// writeEtc writes the pod's /etc (identity and units) and, for each
// app, the spec its exec helper reads, with paths as the pod sees them.
func writeEtc(root string, p *lifecycle.Pod, specs []kit.AppSpec, u unitOptions) error {
	uuid := p.UUID
	etc := filepath.Join(root, "etc")
	units := filepath.Join(etc, "systemd", "system")
	files := map[string]string{
		"machine-id": strings.ReplaceAll(uuid, "-", "") + "\n",
		"passwd":     "root:x:0:0:root:/root:/bin/sh\n",
		"group":      "root:x:0:\n",
		"hostname":   u.Hostname + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing the pod's /etc: %w", err)
		}
	}
	var names []string
	for _, s := range specs {
		if err := writeApp(root, p, s, u); err != nil {
			return err
		}
		names = append(names, s.Name)
	}
	if err := writeUnit(units, podTarget, podTargetUnit(names)); err != nil {
		return err
	}
	if err := writeUnit(units, "systemd-exit.service", exitUnit()); err != nil {
		return err
	}
	if err := maskGenerators(root); err != nil {
		return err
	}
	def := filepath.Join(units, "default.target")
	os.Remove(def)
	if err := os.Symlink(podTarget, def); err != nil {
		return fmt.Errorf("writing the pod's units: %w", err)
	}
	return nil
}

// writeApp writes the spec of app s its exec helper reads, with paths as
// the pod sees them, and its unit.
func writeApp(root string, p *lifecycle.Pod, s kit.AppSpec, u unitOptions) error {
	units := filepath.Join(root, "etc", "systemd", "system")
	inside := s
	inside.Rootfs = filepath.Join(stage2, s.Name, "rootfs")
	// Already mounted: by the boot helper, or, for an app added to a
	// mutable pod, by the in-pod helper.
	inside.Lower, inside.Upper, inside.Work, inside.Mounts, inside.Tmpfs = "", "", "", nil, nil
	inside.Devices = devicesInside(s.Devices)
	inside.Cgroups = nil
	for i := range s.LimitDirs {
		inside.Cgroups = append(inside.Cgroups, filepath.Join(inCgroups, s.Name, strconv.Itoa(i)))
	}
	inside.LimitDirs = inside.Cgroups
	views, err := cgroupViews(s.Name, s.LimitDirs)
	if err != nil {
		return err
	}
	inside.CgroupViews = views
	if err := writeSecrets(root, &inside); err != nil {
		return err
	}
	// In the pod's user namespace the pod's root is root: what the exec
	// helper mounts is its own without being told.
	inside.Users = nil
	b, err := json.Marshal(&inside)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.FilePath(lifecycle.AppFile(s.Name, lifecycle.AppSpecJSON)), b, 0o600); err != nil {
		return fmt.Errorf("writing spec of app %s: %w", s.Name, err)
	}
	return writeUnit(units, serviceName(s.Name), withHandlers(appUnit(s.Name, u), &inside))
}

// writeSecrets moves an app's secret variables out of the spec that goes
// to disk, into a file of the secrets tmpfs, from which addSecrets puts
// them back in the app's exec helper.
func writeSecrets(root string, s *kit.AppSpec) error {
	if len(s.SecretEnv) == 0 {
		return nil
	}
	secret := map[string]bool{}
	for _, k := range s.SecretEnv {
		secret[k] = true
	}
	var env, kvs []string
	for _, kv := range s.Env {
		if k, _, _ := strings.Cut(kv, "="); secret[k] {
			kvs = append(kvs, kv)
		} else {
			env = append(env, kv)
		}
	}
	s.Env = env
	b, err := json.Marshal(kvs)
	if err != nil {
		return err
	}
	path := filepath.Join(root, inSecrets, s.Name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("writing the secrets of app %s: %w", s.Name, err)
	}
	if s.Users != nil {
		// For the exec helper, the pod's root.
		if err := os.Lchown(path, int(s.Users.HostUID(0)), int(s.Users.HostGID(0))); err != nil {
			return fmt.Errorf("writing the secrets of app %s: %w", s.Name, err)
		}
	}
	return nil
}

// addSecrets puts an app's secret variables back into its spec, in the
// app's exec helper.
func addSecrets(s *kit.AppSpec) error {
	if len(s.SecretEnv) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(inSecrets, s.Name))
	if err != nil {
		return fmt.Errorf("reading the secrets of app %s: %w", s.Name, err)
	}
	var kvs []string
	if err := json.Unmarshal(b, &kvs); err != nil {
		return fmt.Errorf("reading the secrets of app %s: %w", s.Name, err)
	}
	s.Env = append(s.Env, kvs...)
	return nil
}

// ownerOptions give a tmpfs the stage1 root mounts to the pod's root, if
// the pod has private users.
func ownerOptions(u *stage1.PrivateUsers) string {
	if u == nil {
		return ""
	}
	return ",uid=" + strconv.FormatUint(uint64(u.HostUID(0)), 10) + ",gid=" + strconv.FormatUint(uint64(u.HostGID(0)), 10)
}

// hostname names the pod's machine: its default host name.
func hostname(uuid string) string { return stage1.DefaultHostname(uuid) }

// cgroupViews are the views of an app's limit cgroups (limitDirs, on the
// host) for its /sys/fs/cgroup, from where the stage1 root binds them.
func cgroupViews(app string, limitDirs []string) ([]cgroup.View, error) {
	views, err := (&cgroup.Group{}).Views(limitDirs)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", app, err)
	}
	for i := range views {
		for j, d := range limitDirs {
			if views[i].Source == d {
				views[i].Source = filepath.Join(inCgroups, app, strconv.Itoa(j))
			}
		}
	}
	return views, nil
}
