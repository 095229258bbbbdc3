package kit

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"podctl/stage1/appexec"
	"slices"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/stage1"
)

// AppSpec is everything a flavor needs to start one app: the resolved view
// of a RuntimeApp of the pod manifest plus where its files are. Flavors pass
// it to their in-pod helpers as JSON, in which the embedded appexec.Spec's
// fields stand beside the others.
type AppSpec struct {
	// Spec is what binds the app's process, which the exec helper sets
	// (appexec.Exec).
	appexec.Spec
	// Rootfs is the absolute path of the app's root.
	Rootfs string `json:"rootfs"`
	// Users are the pod's private users, nil if it shares the host's.
	Users *stage1.PrivateUsers `json:"users,omitempty"`
	// Userns, set by the flavor, is a user namespace with the pod's
	// mapping, through which the app's trees and volumes are shown
	// (idmapped mounts), unless the pod's trees are chowned copies.
	Userns *os.File `json:"-"`
	// Lower, Upper and Work are set when Rootfs is an overlay to mount.
	Lower string `json:"lower,omitempty"`
	Upper string `json:"upper,omitempty"`
	Work  string `json:"work,omitempty"`
	// SecretEnv names the variables of Env whose values are secret: a
	// flavor must not write them to a file of the pod.
	SecretEnv []string `json:"secret_env,omitempty"`
	// Mounts are the volumes to bind into the app's root.
	Mounts []MountSpec `json:"mounts,omitempty"`
	// Limits are the app's resource limits.
	Limits cgroup.Limits `json:"limits,omitempty"`
	// Cgroups are the cgroup folders the app joins: the pod's, then those
	// of its limits.
	Cgroups []string `json:"cgroups,omitempty"`
	// LimitDirs are the cgroup folders of the app's limits, where the
	// kernel counts the app's out-of-memory kills.
	LimitDirs []string `json:"limit_dirs,omitempty"`
	// CgroupViews are the app's cgroups as its /sys/fs/cgroup shows them,
	// for a flavor that knows them before the app starts (systemd).
	CgroupViews []cgroup.View `json:"cgroup_views,omitempty"`
	// ReadOnlyRootfs remounts the app's root read-only (ReadOnlyRoot),
	// once every mount in it is made; Tmpfs are the fresh tmpfs folders
	// it keeps writable, mounted with the volumes.
	ReadOnlyRootfs bool        `json:"readonly_rootfs,omitempty"`
	Tmpfs          []TmpfsSpec `json:"tmpfs,omitempty"`
	// Devices are the host devices given to the pod, made in the app's
	// /dev; its device policy (Limits) lets it open them.
	Devices []stage1.Device `json:"devices,omitempty"`
	// PreStart and PostStop are the commands of the app's appc event
	// handlers, run as root in the app's root before each start and after
	// each end of the app (HandlerSpec).
	PreStart []string `json:"pre_start,omitempty"`
	PostStop []string `json:"post_stop,omitempty"`
}

// MountSpec is one volume bound into an app's root.
type MountSpec struct {
	// Source is the host path (or the pod's folder of an empty volume).
	Source string `json:"source"`
	// Target is the absolute path inside the app's root.
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// Recursive binds the mounts below Source too (appc's default); a
	// volume with recursive=false is bound alone.
	Recursive bool `json:"recursive,omitempty"`
}

// mountSpecs resolves an app's mounts against the pod's volumes. An empty
// volume made now gets what the app's image tree holds at its path
// (copyUp); a mount on a readOnly mount point of the image is read-only.
func mountSpecs(p *lifecycle.Pod, m *schema.PodManifest, ra *schema.RuntimeApp, src imageTree) ([]MountSpec, error) {
	var out []MountSpec
	for _, mnt := range ra.Mounts {
		var vol *types.Volume
		for i := range m.Volumes {
			if m.Volumes[i].Name == mnt.Volume {
				vol = &m.Volumes[i]
			}
		}
		if vol == nil {
			return nil, fmt.Errorf("app %s mounts volume %s, which the pod does not have", ra.Name, mnt.Volume)
		}
		// stage0 refuses these; a pod manifest from elsewhere is held to
		// the same rule.
		if err := stage1.CheckMountTarget(filepath.Clean(mnt.Path)); err != nil {
			return nil, fmt.Errorf("app %s mounts volume %s on %s: %w", ra.Name, mnt.Volume, mnt.Path, err)
		}
		ms := MountSpec{Target: mnt.Path, ReadOnly: vol.ReadOnly != nil && *vol.ReadOnly,
			Recursive: vol.Recursive == nil || *vol.Recursive}
		ms.ReadOnly = ms.ReadOnly || mountPointReadOnly(ra.App.MountPoints, mnt.Volume, mnt.Path)
		switch vol.Kind {
		case "host":
			ms.Source = vol.Source
		case "empty":
			ms.Source = p.FilePath(filepath.Join(lifecycle.DirVolumes, vol.Name.String()))
			if err := makeEmptyVolume(ms.Source, vol, src, mnt.Path); err != nil {
				return nil, fmt.Errorf("making volume %s: %w", vol.Name, err)
			}
		default:
			return nil, fmt.Errorf("volume %s is of kind %q: podctl knows host and empty", vol.Name, vol.Kind)
		}
		out = append(out, ms)
	}
	return out, nil
}

// makeEmptyVolume makes an empty volume's folder with the mode (0755 by
// default) and owner (root by default) the volume asks for. Made now, it
// gets what the image tree holds at path, the mount's target (copyUp).
func makeEmptyVolume(dir string, vol *types.Volume, src imageTree, path string) error {
	mode, uid, gid := int64(0o755), 0, 0
	if vol.Mode != nil {
		m, err := strconv.ParseInt(*vol.Mode, 8, 32)
		if err != nil {
			return fmt.Errorf("mode %q is not octal", *vol.Mode)
		}
		mode = m
	}
	if vol.UID != nil {
		uid = *vol.UID
	}
	if vol.GID != nil {
		gid = *vol.GID
	}
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return err
		}
		// Filled aside, then renamed in: a run that dies half way leaves
		// no half-filled volume for the next app to take as made.
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-")
		if err != nil {
			return err
		}
		if err := copyUp(src, path, tmp); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			return err
		}
	} else if err != nil {
		return err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	return os.Chmod(dir, os.FileMode(mode)&os.ModePerm|modeBits(mode))
}

// modeBits carries the setuid, setgid and sticky bits of a Unix mode over
// to an os.FileMode.
func modeBits(mode int64) os.FileMode {
	var m os.FileMode
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// AppSpecs reads the apps of a pod from its manifest and its directory.
func AppSpecs(p *lifecycle.Pod, m *schema.PodManifest) ([]AppSpec, error) {
	var specs []AppSpec
	users, err := stage1.ReadPrivateUsers(m)
	if err != nil {
		return nil, err
	}
	for _, ra := range m.Apps {
		name := ra.Name.String()
		if ra.App == nil || len(ra.App.Exec) == 0 {
			return nil, fmt.Errorf("app %s has nothing to run: give it --exec", name)
		}
		dir := p.FilePath(lifecycle.AppDir(name))
		s := AppSpec{
			Spec: appexec.Spec{
				Name:       name,
				Exec:       ra.App.Exec,
				User:       ra.App.User,
				Group:      ra.App.Group,
				WorkingDir: ra.App.WorkingDirectory,
			},
			Rootfs: filepath.Join(dir, lifecycle.AppRootfs),
			Users:  users,
		}
		if lower, err := os.Readlink(filepath.Join(dir, lifecycle.AppLower)); err == nil {
			s.Lower, s.Upper, s.Work = lower, filepath.Join(dir, lifecycle.AppUpper), filepath.Join(dir, lifecycle.AppWork)
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("reading app %s: %w", name, err)
		}
		src := imageTree{Dir: s.Lower, Users: users}
		if src.Dir == "" {
			src.Dir = s.Rootfs
		}
		mounts, err := mountSpecs(p, m, &ra, src)
		if err != nil {
			return nil, err
		}
		s.Mounts = mounts
		if v, ok := ra.Annotations.Get(lifecycle.AnnotationPidsLimit); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("app %s: %s %q is not a positive number", name, lifecycle.AnnotationPidsLimit, v)
			}
			s.Limits.Pids = n
		}
		s.SupplementaryGIDs = ra.App.SupplementaryGIDs
		if err := stage1.CheckSupplementaryGIDs(s.SupplementaryGIDs); err != nil {
			return nil, fmt.Errorf("app %s: %w", name, err)
		}
		if s.Sockets, err = socketPorts(ra.App); err != nil {
			return nil, fmt.Errorf("app %s: %w", name, err)
		}
		if err := readSettings(&s, ra.Annotations.Get); err != nil {
			return nil, err
		}
		if err := readSecurity(&s, m, &ra); err != nil {
			return nil, err
		}
		readLimits(&s, ra.App.Isolators)
		if err := readHandlers(&s, ra.App.EventHandlers); err != nil {
			return nil, err
		}
		if err := readConfinement(&s, &ra); err != nil {
			return nil, err
		}
		podName, _ := m.Annotations.Get(lifecycle.AnnotationName)
		if err := setEnv(&s, &ra, p.UUID, podName); err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 && !lifecycle.IsMutable(m) {
		return nil, fmt.Errorf("the pod has no apps")
	}
	return specs, nil
}

// readLimits gives s the memory and CPU limits of the app's isolators, and
// the oom_score_adj of its os/linux/oom-score-adj isolator unless podctl's
// own annotation (readSettings) gave one.
func readLimits(s *AppSpec, isos types.Isolators) {
	for _, iso := range isos {
		switch v := iso.Value().(type) {
		case *types.LinuxOOMScoreAdj:
			// appc checked the range as it read the manifest.
			if n := int(*v); s.OOMScoreAdj == nil && stage1.CheckOOMScoreAdj(n) == nil {
				s.OOMScoreAdj = &n
			}
		case *types.ResourceMemory:
			if l := v.Limit(); l != nil {
				s.Limits.MemoryBytes = l.Value()
			}
		case *types.ResourceCPU:
			if l := v.Limit(); l != nil {
				s.Limits.CPUMillis = l.MilliValue()
			}
		}
	}
}

// setEnv gives s the app's environment: its own variables, its secret
// ones read now, the defaults it does not set, and the variables naming
// the pod (pod uuid, named podName), over any value the app gave them.
func setEnv(s *AppSpec, ra *schema.RuntimeApp, uuid, podName string) error {
	secrets, err := secretEnv(ra)
	if err != nil {
		return err
	}
	env := map[string]bool{}
	for _, ev := range ra.App.Environment {
		if _, secret := secrets[ev.Name]; secret || ev.Name == stage1.EnvPodUUID || ev.Name == stage1.EnvPodName {
			continue
		}
		s.Env = append(s.Env, ev.Name+"="+ev.Value)
		env[ev.Name] = true
	}
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		s.Env = append(s.Env, k+"="+secrets[k])
		s.SecretEnv = append(s.SecretEnv, k)
		env[k] = true
	}
	for _, kv := range []string{"PATH=" + stage1.DefaultPath, "AC_APP_NAME=" + s.Name, "HOME=/root"} {
		if k, _, _ := strings.Cut(kv, "="); !env[k] {
			s.Env = append(s.Env, kv)
		}
	}
	s.Env = append(s.Env, stage1.EnvPodUUID+"="+uuid, stage1.EnvPodName+"="+podName)
	return nil
}

// secretEnv reads the values of an app's secret variables from the files
// its manifest names. It runs in stage1 as the pod starts, so the values
// exist only in memory and in the apps' environments.
func secretEnv(ra *schema.RuntimeApp) (map[string]string, error) {
	v, ok := ra.Annotations.Get(lifecycle.AnnotationSecretEnv)
	if !ok {
		return nil, nil
	}
	var paths map[string]string
	if err := json.Unmarshal([]byte(v), &paths); err != nil {
		return nil, fmt.Errorf("app %s: reading annotation %s: %w", ra.Name, lifecycle.AnnotationSecretEnv, err)
	}
	out := make(map[string]string, len(paths))
	for k, path := range paths {
		val, err := stage1.ReadSecret(path)
		if err != nil {
			return nil, fmt.Errorf("app %s: secret %s: %w", ra.Name, k, err)
		}
		out[k] = val
	}
	return out, nil
}

// EncodeSpec and DecodeSpec carry an AppSpec to a helper process.
func EncodeSpec(s *AppSpec) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// DecodeSpec is the inverse of EncodeSpec.
func DecodeSpec(v string) (*AppSpec, error) {
	var s AppSpec
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, fmt.Errorf("reading app spec: %w", err)
	}
	return &s, nil
}
