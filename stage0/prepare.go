package stage0

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"podctl/internal/errdefs"
	"podctl/internal/fsutil"
	"podctl/internal/passwd"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/flavors"
	"podctl/store"
)

// AppOptions are the per-app choices of prepare and run.
type AppOptions struct {
	// Image is an image ID, ID prefix, name[:version] or an ACI file path.
	Image string
	// Name is the app's name; by default the last part of the image name.
	Name string
	// Exec replaces the image's command (its first word).
	Exec string
	// Args, when set, replace the arguments of the command.
	Args []string
	// Env adds KEY=VALUE pairs to this app's environment.
	Env []string
	// EnvSecrets add NAME=FILE pairs to this app's secret environment:
	// the variable NAME gets FILE's content when the pod starts
	// (PrepareOptions.SetEnvSecrets).
	EnvSecrets []string
	// User and Group replace the image's.
	User, Group string
	// WorkingDir replaces the image's working directory.
	WorkingDir string
	// Mounts put pod volumes into the app: "volume=NAME,target=/PATH".
	Mounts []string
	// Memory and CPU limit the app: a size such as "64M" or "1G", and a
	// share of a core such as "500m" or "2".
	Memory, CPU string
	// PidsLimit, if above zero, is the most processes the app may have.
	PidsLimit int
	// OOMScoreAdj, if set, is the app's oom_score_adj (-1000 to 1000).
	OOMScoreAdj *int
	// Rlimits are the app's resource limits, "NAME=SOFT[:HARD]"
	// (stage1.ParseRlimit); a later one for the same resource wins.
	Rlimits []string
}

// PrepareOptions are the choices of prepare and run.
type PrepareOptions struct {
	Apps []AppOptions
	// SetEnv adds KEY=VALUE pairs to every app's environment.
	SetEnv []string
	// SetEnvSecrets are NAME=FILE pairs: every app gets the variable NAME
	// with FILE's content (but for one final newline). The manifest keeps
	// only FILE's absolute path; stage1 reads the file when the pod starts,
	// so the value is never written into the data directory.
	SetEnvSecrets []string
	// Name, if set, is the pod's name, unique among the pods not yet
	// removed, which commands take wherever they take a UUID.
	Name string
	// Labels and Annotations are the user's KEY=VALUE pairs on the pod.
	Labels, Annotations []string
	// InsecureImage accepts image files without a verified signature.
	InsecureImage bool
	// ImageLimits bound the images imported and rendered for the pod;
	// zero fields mean the store's defaults.
	ImageLimits store.Limits
	// Flavor is the stage1 flavor; empty means the default.
	Flavor string
	// NoOverlay copies image trees into the pod instead of overlaying them.
	NoOverlay bool
	// UUIDFileSave, if set, is a file the pod's UUID is written to as soon
	// as the pod exists.
	UUIDFileSave string
	// Volumes are the pod's volumes, as rkt wrote them:
	// "NAME,kind=host,source=/PATH[,readOnly=true]" or "NAME,kind=empty".
	Volumes []string
}

// flavorName is the stage1 flavor opts ask for, or the default.
func flavorName(opts *PrepareOptions) string {
	if opts.Flavor != "" {
		return opts.Flavor
	}
	return flavors.Default()
}

// Prepare creates a pod from opts and lays it out for stage1. It returns
// the pod still locked by this process in the preparing state: the caller
// either makes it prepared (ToPrepared) or runs it (Run). Bad input is
// refused before the pod exists; a failure after that removes the pod.
func Prepare(c Config, opts *PrepareOptions) (*lifecycle.Pod, error) {
	name := flavorName(opts)
	if _, err := availableFlavor(name); err != nil {
		return nil, err
	}
	return prepare(c, opts, name)
}

// availableFlavor returns the flavor called name if it can run here.
func availableFlavor(name string) (stage1.Flavor, error) {
	f, err := flavors.Get(name)
	if err != nil {
		return nil, errdefs.New(ErrUsage, "%v", err)
	}
	if err := f.Available(); err != nil {
		return nil, err
	}
	return f, nil
}

// prepare is Prepare for a flavor known to be available.
func prepare(c Config, opts *PrepareOptions, flavor string) (*lifecycle.Pod, error) {
	trace.Mark("prepare")
	if len(opts.Apps) == 0 {
		return nil, errdefs.New(ErrUsage, "no image given: name at least one image to run")
	}
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	if opts.Name != "" {
		// Early, to fail before importing anything; claimName decides.
		if err := checkNameFree(c.DataDir, opts.Name); err != nil {
			return nil, err
		}
	}
	if err := c.Init(); err != nil {
		return nil, err
	}
	st, err := c.OpenStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetLimits(opts.ImageLimits)

	apps, err := resolveApps(st, opts)
	if err != nil {
		return nil, err
	}
	// Image gc must not take a tree away between here and the pod naming
	// it in its manifest.
	unlock, err := st.LockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	for i := range apps {
		tree, err := st.Tree(apps[i].id)
		if err != nil {
			return nil, fmt.Errorf("preparing image %s: %w", apps[i].id, err)
		}
		apps[i].tree = tree
		// A user or group the image does not have is refused now, before
		// a pod exists, rather than when the app starts.
		if _, _, err := passwd.Resolve(tree, apps[i].app.User, apps[i].app.Group); err != nil {
			return nil, errdefs.New(ErrUsage, "app %s: %v", apps[i].name, err)
		}
		if err := st.Touch(apps[i].id); err != nil {
			return nil, err
		}
	}

	trace.Mark("images resolved")
	p, err := lifecycle.NewPod(c.DataDir)
	if err != nil {
		return nil, c.dataDirError(err)
	}
	if opts.Name != "" {
		if err := claimName(c.DataDir, opts.Name, p.UUID); err != nil {
			discard(p)
			return nil, err
		}
	}
	if err := layOut(p, flavor, apps, opts); err != nil {
		discard(p)
		// In case the manifest that names the pod was not written. A
		// failure leaves a stale entry, which is free all the same.
		_ = releaseName(c.DataDir, opts.Name, p.UUID)
		return nil, fmt.Errorf("preparing pod %s: %w", p.UUID, err)
	}
	return p, nil
}

// checkOptions refuses malformed options before anything is imported or
// created.
func checkOptions(opts *PrepareOptions) error {
	checkEnv := func(kvs []string) error {
		for _, kv := range kvs {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return errdefs.New(ErrUsage, "environment setting %q is not KEY=VALUE", kv)
			}
			if err := checkPodEnvName(k); err != nil {
				return err
			}
		}
		return nil
	}
	if err := checkEnv(opts.SetEnv); err != nil {
		return err
	}
	if opts.Name != "" {
		if err := CheckPodName(opts.Name); err != nil {
			return err
		}
	}
	if _, err := parseLabels(opts.Labels); err != nil {
		return err
	}
	if _, err := parseAnnotations(opts.Annotations); err != nil {
		return err
	}
	if _, err := parseSecrets("--set-env-secret", opts.SetEnvSecrets); err != nil {
		return err
	}
	vols, err := parseVolumes(opts.Volumes)
	if err != nil {
		return err
	}
	for _, ao := range opts.Apps {
		if _, err := parseMounts(ao.Mounts, vols); err != nil {
			return err
		}
		if err := checkEnv(ao.Env); err != nil {
			return err
		}
		if _, err := parseSecrets("--environment-secret", ao.EnvSecrets); err != nil {
			return err
		}
		if ao.Name != "" {
			if _, err := types.NewACName(ao.Name); err != nil {
				return errdefs.New(ErrUsage, "app name %q is not valid (lower-case letters, digits and dashes)", ao.Name)
			}
		}
		if ao.WorkingDir != "" && !filepath.IsAbs(ao.WorkingDir) {
			return errdefs.New(ErrUsage, "working directory %q is not an absolute path", ao.WorkingDir)
		}
		if _, err := limitIsolators(&ao); err != nil {
			return err
		}
		if _, err := appSettings(&ao); err != nil {
			return err
		}
	}
	return nil
}

// checkPodEnvName refuses to let the user set the variables stage1 sets
// to tell an app its pod.
func checkPodEnvName(k string) error {
	if k == stage1.EnvPodUUID || k == stage1.EnvPodName {
		return errdefs.New(ErrUsage, "%s is set by podctl in every app: it cannot be given", k)
	}
	return nil
}

// parseSecrets reads NAME=FILE values of flag and checks that each file
// can be read and holds a value an environment variable can take. It
// returns the absolute path of each variable's file; a later value for the
// same NAME wins. The values themselves are dropped: stage1 reads them
// again when the pod starts.
func parseSecrets(flag string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, file, ok := strings.Cut(kv, "=")
		if !ok || k == "" || file == "" {
			return nil, errdefs.New(ErrUsage, "%s %q is not NAME=FILE", flag, kv)
		}
		if err := checkPodEnvName(k); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, errdefs.New(ErrUsage, "%s %s: %v", flag, k, err)
		}
		if _, err := stage1.ReadSecret(abs); err != nil {
			return nil, errdefs.New(ErrUsage, "%s %s: %v", flag, k, err)
		}
		out[k] = abs
	}
	return out, nil
}

// appSecrets merges the pod's secret variables with an app's own, which
// win: variable name to absolute file path.
func appSecrets(podSecrets []string, ao *AppOptions) (map[string]string, error) {
	out, err := parseSecrets("--set-env-secret", podSecrets)
	if err != nil {
		return nil, err
	}
	mine, err := parseSecrets("--environment-secret", ao.EnvSecrets)
	if err != nil {
		return nil, err
	}
	for k, v := range mine {
		out[k] = v
	}
	return out, nil
}

// appSettings reads --rlimit and --oom-score-adj.
func appSettings(ao *AppOptions) ([]stage1.Rlimit, error) {
	if ao.OOMScoreAdj != nil {
		if err := stage1.CheckOOMScoreAdj(*ao.OOMScoreAdj); err != nil {
			return nil, errdefs.New(ErrUsage, "%v", err)
		}
	}
	rs, err := stage1.ParseRlimits(ao.Rlimits)
	if err != nil {
		return nil, errdefs.New(ErrUsage, "%v", err)
	}
	return rs, nil
}

// MinMemory is the lowest --memory taken, 6 MiB: below it an app dies as
// it starts, silently (podman draws the line at the same place).
const MinMemory = 6 << 20

// limitIsolators turns --memory and --cpu into appc isolators.
func limitIsolators(ao *AppOptions) ([]types.Isolator, error) {
	var out []types.Isolator
	if ao.Memory != "" {
		m, err := types.NewResourceMemoryIsolator(ao.Memory, ao.Memory)
		if err != nil || m.Limit().Value() <= 0 {
			return nil, errdefs.New(ErrUsage, "--memory %q is not a size such as 64M or 1G", ao.Memory)
		}
		if m.Limit().Value() < MinMemory {
			return nil, errdefs.New(ErrUsage, "--memory %s is below 6Mi (6,291,456 bytes), the least an app can start in: give at least 6Mi", ao.Memory)
		}
		out = append(out, m.AsIsolator())
	}
	if ao.CPU != "" {
		c, err := types.NewResourceCPUIsolator(ao.CPU, ao.CPU)
		if err != nil || c.Limit().MilliValue() <= 0 {
			return nil, errdefs.New(ErrUsage, "--cpu %q is not a share of a core such as 500m or 2", ao.CPU)
		}
		out = append(out, c.AsIsolator())
	}
	return out, nil
}

// checkImageLimits holds the limits an image asks for (those the command
// line did not replace) to the rule of --memory and --cpu: an app could not
// run in less.
func checkImageLimits(m *schema.ImageManifest, isos types.Isolators) error {
	for _, iso := range isos {
		switch v := iso.Value().(type) {
		case *types.ResourceMemory:
			if l := v.Limit(); l != nil && l.Value() < MinMemory {
				return errdefs.New(ErrUsage, "image %s limits its app's memory to %s (%s), below 6Mi, the least an app can start in: give --memory 6Mi or more", m.Name, l.String(), iso.Name)
			}
		case *types.ResourceCPU:
			if l := v.Limit(); l != nil && l.MilliValue() <= 0 {
				return errdefs.New(ErrUsage, "image %s limits its app's CPU to %s (%s), which leaves it none: give --cpu", m.Name, l.String(), iso.Name)
			}
		}
	}
	return nil
}

// parseVolumes reads --volume values and checks them.
func parseVolumes(specs []string) ([]types.Volume, error) {
	var out []types.Volume
	seen := map[types.ACName]bool{}
	for _, v := range specs {
		vol, err := types.VolumeFromString(v)
		if err != nil {
			return nil, errdefs.New(ErrUsage, "volume %q: %v (write NAME,kind=host,source=/PATH[,readOnly=true] or NAME,kind=empty)", v, err)
		}
		if seen[vol.Name] {
			return nil, errdefs.New(ErrUsage, "two volumes are named %q", vol.Name)
		}
		seen[vol.Name] = true
		if vol.Mode != nil {
			if _, err := strconv.ParseUint(*vol.Mode, 8, 32); err != nil {
				return nil, errdefs.New(ErrUsage, "volume %s: mode %q is not an octal number such as 0755", vol.Name, *vol.Mode)
			}
		}
		if vol.Kind == "host" {
			if !filepath.IsAbs(vol.Source) {
				return nil, errdefs.New(ErrUsage, "volume %s: source %q is not an absolute path", vol.Name, vol.Source)
			}
			if _, err := os.Stat(vol.Source); err != nil {
				return nil, errdefs.New(ErrUsage, "volume %s: source %s does not exist", vol.Name, vol.Source)
			}
		}
		out = append(out, *vol)
	}
	return out, nil
}

// parseMounts reads an app's --mount values against the pod's volumes.
func parseMounts(specs []string, vols []types.Volume) ([]schema.Mount, error) {
	var out []schema.Mount
	for _, m := range specs {
		var name, target string
		for _, kv := range strings.Split(m, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "volume":
				name = v
			case "target":
				target = v
			default:
				return nil, errdefs.New(ErrUsage, "mount %q: unknown key %q (write volume=NAME,target=/PATH)", m, k)
			}
		}
		if !filepath.IsAbs(target) {
			return nil, errdefs.New(ErrUsage, "mount %q: target must be an absolute path", m)
		}
		target = filepath.Clean(target)
		if err := checkMountTarget(m, target); err != nil {
			return nil, err
		}
		for _, o := range out {
			if o.Path == target {
				return nil, errdefs.New(ErrUsage, "mount %q: the app already has a mount on %s: give each target one --mount", m, target)
			}
		}
		found := false
		for _, v := range vols {
			found = found || v.Name.String() == name
		}
		if !found {
			return nil, errdefs.New(ErrUsage, "mount %q: no volume %q: add it with --volume", m, name)
		}
		out = append(out, schema.Mount{Volume: types.ACName(name), Path: target})
	}
	return out, nil
}

// checkMountTarget refuses a mount target (clean, absolute) at or below
// a folder stage1 mounts.
func checkMountTarget(spec, target string) error {
	if err := stage1.CheckMountTarget(target); err != nil {
		return errdefs.New(ErrUsage, "mount %q: %v: choose a target outside /proc, /sys and /dev", spec, err)
	}
	return nil
}

// resolvedApp is one app with its image found in the store.
type resolvedApp struct {
	name     types.ACName
	id       string
	manifest *schema.ImageManifest
	app      *types.App
	mounts   []schema.Mount
	pids     int
	oomAdj   *int
	rlimits  []stage1.Rlimit
	// secrets maps secret variables to their files.
	secrets map[string]string
	tree    string
}

func resolveApps(st *store.Store, opts *PrepareOptions) ([]resolvedApp, error) {
	var out []resolvedApp
	vols, err := parseVolumes(opts.Volumes)
	if err != nil {
		return nil, err
	}
	seen := map[types.ACName]bool{}
	for _, ao := range opts.Apps {
		id, err := resolveImage(st, ao.Image, opts.InsecureImage)
		if err != nil {
			return nil, err
		}
		m, _, err := st.Manifest(id)
		if err != nil {
			return nil, err
		}
		if err := checkPlatform(m); err != nil {
			return nil, err
		}
		name, err := appName(ao.Name, m)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, errdefs.New(ErrUsage, "two apps are named %q: give one another name with --name", name)
		}
		seen[name] = true
		app, err := effectiveApp(m, &ao, opts.SetEnv)
		if err != nil {
			return nil, err
		}
		secrets, err := appSecrets(opts.SetEnvSecrets, &ao)
		if err != nil {
			return nil, err
		}
		// A secret replaces any plain value of its variable, which the
		// manifest then does not show.
		for k := range secrets {
			app.Environment = removeEnv(app.Environment, k)
		}
		mounts, err := parseMounts(ao.Mounts, vols)
		if err != nil {
			return nil, err
		}
		if ao.PidsLimit < 0 {
			return nil, errdefs.New(ErrUsage, "--pids-limit %d is negative", ao.PidsLimit)
		}
		rlimits, err := appSettings(&ao)
		if err != nil {
			return nil, err
		}
		out = append(out, resolvedApp{name: name, id: id, manifest: m, app: app, mounts: mounts, pids: ao.PidsLimit,
			oomAdj: ao.OOMScoreAdj, rlimits: rlimits, secrets: secrets})
	}
	return out, nil
}

// removeEnv returns env without the variable name.
func removeEnv(env types.Environment, name string) types.Environment {
	out := env[:0:0]
	for _, ev := range env {
		if ev.Name != name {
			out = append(out, ev)
		}
	}
	return out
}

// resolveImage finds an image in the store, importing it first if ref is
// an image file.
func resolveImage(st *store.Store, ref string, insecure bool) (string, error) {
	if fi, err := os.Stat(ref); err == nil && fi.Mode().IsRegular() {
		img, err := FetchFile(st, ref, insecure)
		if err != nil {
			return "", err
		}
		return img.ID, nil
	} else if err == nil && fi.IsDir() {
		return "", errdefs.New(ErrUsage, "image %s is a directory, not an ACI file: make an image of it with podctl image import %s --name NAME", ref, ref)
	}
	if strings.HasSuffix(ref, ".aci") || strings.Contains(ref, "./") {
		return "", errdefs.New(ErrUsage, "image file %s does not exist", ref)
	}
	id, err := st.Resolve(ref)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", errdefs.New(ErrUsage, "no image %q in the store: fetch it first with podctl fetch, or give a path to an ACI file", ref)
		}
		return "", err
	}
	return id, nil
}

// FetchFile imports an ACI file into the store. Until signature checking
// exists, only insecure imports are possible, and the error says how.
func FetchFile(st *store.Store, path string, insecure bool) (store.Image, error) {
	if !insecure {
		if _, err := os.Stat(path + ".asc"); err == nil {
			return store.Image{}, errdefs.New(ErrUsage, "image %s is signed, but podctl cannot verify signatures yet: pass --insecure-options=image to use it unverified", path)
		}
		return store.Image{}, errdefs.New(ErrUsage, "image %s has no signature (%s.asc): pass --insecure-options=image to use it unsigned", path, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return store.Image{}, err
	}
	defer f.Close()
	img, notes, err := st.ImportNoting(f)
	if err != nil {
		return store.Image{}, fmt.Errorf("%s: %w", path, err)
	}
	if n := len(notes.Devices); n > 0 {
		// Told, not refused: an image made from a whole system has them.
		shown := notes.Devices[:min(n, 3)]
		more := ""
		if n > len(shown) {
			more = fmt.Sprintf(" and %d more", n-len(shown))
		}
		fmt.Fprintf(os.Stderr, "podctl: warning: image %s holds %d device node(s) (%s%s), which are left out: pods get their /dev from stage1\n",
			img.Name, n, strings.Join(shown, ", "), more)
	}
	return img, nil
}

func appName(given string, m *schema.ImageManifest) (types.ACName, error) {
	if given != "" {
		n, err := types.NewACName(given)
		if err != nil {
			return "", errdefs.New(ErrUsage, "app name %q is not valid (lower-case letters, digits and dashes)", given)
		}
		return *n, nil
	}
	base := m.Name.String()
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	s, err := types.SanitizeACName(base)
	if err != nil {
		return "", errdefs.New(ErrUsage, "cannot make an app name of image %s: give one with --name", m.Name)
	}
	return types.ACName(s), nil
}

// effectiveApp merges the image's app with the user's overrides, so the
// pod manifest alone tells stage1 what to run.
func effectiveApp(m *schema.ImageManifest, ao *AppOptions, setEnv []string) (*types.App, error) {
	var app types.App
	if m.App != nil {
		app = *m.App
		app.Exec = append(types.Exec(nil), m.App.Exec...)
		app.Environment = append(types.Environment(nil), m.App.Environment...)
		app.Isolators = append(types.Isolators(nil), m.App.Isolators...)
	}
	if ao.Exec != "" {
		if len(app.Exec) == 0 {
			app.Exec = types.Exec{ao.Exec}
		} else {
			app.Exec[0] = ao.Exec
		}
	}
	if ao.Args != nil {
		if len(app.Exec) == 0 {
			return nil, errdefs.New(ErrUsage, "image %s has no command to give arguments to: add --exec", m.Name)
		}
		app.Exec = append(app.Exec[:1], ao.Args...)
	}
	if len(app.Exec) == 0 {
		return nil, errdefs.New(ErrUsage, "image %s has no command to run: give one with --exec", m.Name)
	}
	for _, kv := range append(append([]string(nil), setEnv...), ao.Env...) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errdefs.New(ErrUsage, "environment setting %q is not KEY=VALUE", kv)
		}
		app.Environment.Set(k, v)
	}
	if ao.User != "" {
		app.User = ao.User
	}
	if ao.Group != "" {
		app.Group = ao.Group
	}
	if ao.WorkingDir != "" {
		app.WorkingDirectory = ao.WorkingDir
	}
	isos, err := limitIsolators(ao)
	if err != nil {
		return nil, err
	}
	for _, iso := range isos {
		// The command line's limit replaces the image's.
		app.Isolators.ReplaceIsolatorsByName(iso, []types.ACIdentifier{iso.Name})
	}
	if err := checkImageLimits(m, app.Isolators); err != nil {
		return nil, err
	}
	if app.User == "" {
		app.User = "0"
	}
	if app.Group == "" {
		app.Group = "0"
	}
	if app.WorkingDirectory != "" && !filepath.IsAbs(app.WorkingDirectory) {
		return nil, errdefs.New(ErrUsage, "working directory %q is not an absolute path", app.WorkingDirectory)
	}
	return &app, nil
}

// layOut writes everything stage1 needs into the pod directory.
func layOut(p *lifecycle.Pod, flavor string, apps []resolvedApp, opts *PrepareOptions) error {
	if opts.UUIDFileSave != "" {
		// Written before preparation, so a supervisor can find (and remove)
		// the pod even if this process dies half way.
		// Atomic, so a reader never sees half a UUID; not fsynced: after a
		// power cut the pod it names is not running anyway.
		if err := fsutil.WriteFile(opts.UUIDFileSave, []byte(p.UUID), 0o644, false); err != nil {
			return fmt.Errorf("saving UUID: %w", err)
		}
	}
	dir := p.Path()
	if err := os.Mkdir(filepath.Join(dir, lifecycle.DirStage1), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, lifecycle.FileFlavor), []byte(flavor+"\n"), 0o600); err != nil {
		return err
	}
	overlay := !opts.NoOverlay && overlaySupported(dir)
	pm := schema.BlankPodManifest()
	vols, err := parseVolumes(opts.Volumes)
	if err != nil {
		return err
	}
	pm.Volumes = vols
	for _, a := range apps {
		appDir := filepath.Join(dir, lifecycle.AppDir(a.name.String()))
		if err := os.MkdirAll(appDir, 0o700); err != nil {
			return err
		}
		rootfs := filepath.Join(appDir, lifecycle.AppRootfs)
		if overlay {
			for _, d := range []string{lifecycle.AppRootfs, lifecycle.AppUpper, lifecycle.AppWork} {
				if err := os.Mkdir(filepath.Join(appDir, d), 0o755); err != nil {
					return err
				}
			}
			if err := os.Symlink(a.tree, filepath.Join(appDir, lifecycle.AppLower)); err != nil {
				return err
			}
		} else if err := copyTree(a.tree, rootfs); err != nil {
			return err
		}
		hash, err := types.NewHash(a.id)
		if err != nil {
			return err
		}
		ra := schema.RuntimeApp{
			Name:   a.name,
			Image:  schema.RuntimeImage{Name: &a.manifest.Name, ID: *hash, Labels: a.manifest.Labels},
			App:    a.app,
			Mounts: a.mounts,
		}
		if a.pids > 0 {
			// appc has no isolator for it: an annotation of podctl's own.
			ra.Annotations.Set(lifecycle.AnnotationPidsLimit, strconv.Itoa(a.pids))
		}
		if len(a.rlimits) > 0 {
			ra.Annotations.Set(lifecycle.AnnotationRlimits, stage1.FormatRlimits(a.rlimits))
		}
		if a.oomAdj != nil {
			ra.Annotations.Set(lifecycle.AnnotationOOMScoreAdj, strconv.Itoa(*a.oomAdj))
		}
		if len(a.secrets) > 0 {
			// The files' paths, never their content.
			b, err := json.Marshal(a.secrets)
			if err != nil {
				return err
			}
			ra.Annotations.Set(lifecycle.AnnotationSecretEnv, string(b))
		}
		pm.Apps = append(pm.Apps, ra)
	}
	if opts.Name != "" {
		pm.Annotations.Set(lifecycle.AnnotationName, opts.Name)
	}
	if pm.UserLabels, err = parseLabels(opts.Labels); err != nil {
		return err
	}
	if pm.UserAnnotations, err = parseAnnotations(opts.Annotations); err != nil {
		return err
	}
	b, err := json.Marshal(pm)
	if err != nil {
		return fmt.Errorf("writing pod manifest: %w", err)
	}
	// Durability comes from ToPrepared's syncfs; a pod run at once needs none.
	return p.WriteFile(lifecycle.FileManifest, b, false)
}

// overlaySupported reports whether app roots in dir can be overlayfs
// mounts: the kernel must know overlayfs, and dir must not itself be on a
// file system that cannot hold an upper layer.
func overlaySupported(dir string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\toverlay\n") {
		return false
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return false
	}
	switch sfs.Type {
	case unix.OVERLAYFS_SUPER_MAGIC, 0x61756673 /* aufs */, 0x2fc12fc1 /* zfs */ :
		return false
	}
	return true
}

// copyTree makes a private copy of an image tree for a pod that cannot use
// overlayfs. cp keeps owners, modes, times, links and xattrs, and reflinks
// where the file system can.
func copyTree(src, dst string) error {
	out, err := exec.Command("cp", "-a", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copying image tree: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// discard removes a pod whose preparation failed, so a refused request
// leaves nothing behind, and frees its name.
func discard(p *lifecycle.Pod) {
	name := readPodName(p)
	if err := p.ToGarbage(); err == nil {
		if p.Remove() == nil {
			// Best effort, as the removal: a stale entry is free.
			_ = releaseName(p.DataDir(), name, p.UUID)
		}
	}
	p.Close()
}
