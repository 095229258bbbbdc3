package stage1

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"

	"podctl/lifecycle"
)

// Files stage0 leaves in each app's folder, apps/<name>/, for stage1.
const (
	// AppRootfs is where the app's root filesystem is (or is mounted).
	AppRootfs = "rootfs"
	// AppLower, when present, is a symlink to the shared image tree that
	// stage1 mounts as the lower layer of an overlay on AppRootfs, with
	// AppUpper and AppWork as the pod's own layer. When absent, AppRootfs is
	// a private copy of the tree and nothing needs mounting.
	AppLower = "lower"
	AppUpper = "upper"
	AppWork  = "work"
	// AppPid holds the pid of the app's main process while the pod runs.
	AppPid = "pid"
)

// DefaultPath is the PATH an app gets when its image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// AppSpec is everything a flavor needs to start one app: the resolved view
// of a RuntimeApp of the pod manifest plus where its files are. Flavors pass
// it to their in-pod helpers as JSON.
type AppSpec struct {
	Name string `json:"name"`
	// Rootfs is the absolute path of the app's root.
	Rootfs string `json:"rootfs"`
	// Lower, Upper and Work are set when Rootfs is an overlay to mount.
	Lower string `json:"lower,omitempty"`
	Upper string `json:"upper,omitempty"`
	Work  string `json:"work,omitempty"`
	// Exec is the command line; Exec[0] is looked up in the app's PATH.
	Exec []string `json:"exec"`
	// Env is the environment, KEY=VALUE, PATH included.
	Env        []string `json:"env"`
	User       string   `json:"user"`
	Group      string   `json:"group"`
	WorkingDir string   `json:"working_dir,omitempty"`
	// Cgroups are the pod's cgroup folders, which the app joins.
	Cgroups []string `json:"cgroups,omitempty"`
}

// AppSpecs reads the apps of a pod from its manifest and its directory.
func AppSpecs(podDir, uuid string, m *schema.PodManifest) ([]AppSpec, error) {
	var specs []AppSpec
	for _, ra := range m.Apps {
		name := ra.Name.String()
		if ra.App == nil || len(ra.App.Exec) == 0 {
			return nil, fmt.Errorf("app %s has nothing to run: give it --exec", name)
		}
		dir := filepath.Join(podDir, lifecycle.AppDir(name))
		s := AppSpec{
			Name:       name,
			Rootfs:     filepath.Join(dir, AppRootfs),
			Exec:       ra.App.Exec,
			User:       ra.App.User,
			Group:      ra.App.Group,
			WorkingDir: ra.App.WorkingDirectory,
		}
		if lower, err := os.Readlink(filepath.Join(dir, AppLower)); err == nil {
			s.Lower, s.Upper, s.Work = lower, filepath.Join(dir, AppUpper), filepath.Join(dir, AppWork)
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("reading app %s: %w", name, err)
		}
		env := map[string]bool{}
		for _, ev := range ra.App.Environment {
			s.Env = append(s.Env, ev.Name+"="+ev.Value)
			env[ev.Name] = true
		}
		defaults := []string{"PATH=" + DefaultPath, "AC_APP_NAME=" + name, "PODCTL_POD_UUID=" + uuid, "HOME=/root"}
		for _, kv := range defaults {
			if k, _, _ := strings.Cut(kv, "="); !env[k] {
				s.Env = append(s.Env, kv)
			}
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("the pod has no apps")
	}
	return specs, nil
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
