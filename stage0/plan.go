package stage0

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/appc/spec/schema/types/resource"

	"podctl/cgroup"
	"podctl/internal/errdefs"
	"podctl/internal/passwd"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/seccomp/custom"
	"podctl/store"
)

// plan is a pod as prepare is to write it, built and checked whole before
// the pod's directory exists: every refusal that does not need the pod
// happens while building it. checkOptions checks the options against each
// other and the host; resolveApps and findTrees find the images and make
// each app's effective settings; buildManifest writes the pod manifest.
// Then create makes the pod and layOut writes the plan into it.
type plan struct {
	opts   *PrepareOptions
	flavor string
	// labels and annotations are the pod's, by key.
	labels, annotations map[string]string
	apps                []plannedApp
	// manifest is the pod manifest, as written.
	manifest []byte
	// devices are the host devices given to the pod (--device).
	devices []stage1.Device
	// pm is the pod manifest, which manifest holds as written.
	pm *schema.PodManifest
	// users are the pod's private users, once the pod exists (giveUsers).
	users *stage1.PrivateUsers
	// implicit are the empty volumes of image mount points that no volume
	// was given for (joinMountPoints).
	implicit []types.Volume
}

// plannedApp is one app of a plan.
type plannedApp struct {
	opts *AppOptions
	// From the options alone:
	mounts  []schema.Mount
	secrets map[string]string // variable name to absolute file path
	rlimits []stage1.Rlimit
	// From the image (resolveApps, findTrees):
	name     types.ACName
	id       string
	manifest *schema.ImageManifest
	app      *types.App
	tree     string
}

// checkOptions starts a plan from opts, refusing what is wrong with them
// before anything is imported or created.
func checkOptions(opts *PrepareOptions) (*plan, error) {
	if err := checkMutable(opts); err != nil {
		return nil, err
	}
	if opts.PodManifest != nil {
		return checkPodManifestOptions(opts)
	}
	if len(opts.Apps) == 0 && !opts.Mutable {
		return nil, errdefs.New(ErrUsage, "no image given: name at least one image to run")
	}
	if opts.Name != "" {
		if err := CheckPodName(opts.Name); err != nil {
			return nil, err
		}
	}
	pl := &plan{opts: opts}
	var err error
	if pl.labels, err = pairMap("label", opts.Labels); err != nil {
		return nil, err
	}
	if pl.annotations, err = pairMap("annotation", opts.Annotations); err != nil {
		return nil, err
	}
	if err := checkVolumes(opts.Volumes); err != nil {
		return nil, err
	}
	if pl.devices, err = resolveDevices(opts.Devices, flavorName(opts)); err != nil {
		return nil, err
	}
	podSecrets, err := secretFiles("--set-env-secret", opts.SetEnvSecrets, nil)
	if err != nil {
		return nil, err
	}
	for i := range opts.Apps {
		a, err := planApp(&opts.Apps[i], opts.Volumes, podSecrets)
		if err != nil {
			return nil, err
		}
		pl.apps = append(pl.apps, a)
	}
	return pl, nil
}

// planApp checks an app's options that need no image.
func planApp(ao *AppOptions, vols []types.Volume, podSecrets map[string]string) (plannedApp, error) {
	a := plannedApp{opts: ao, rlimits: mergeRlimits(ao.Rlimits)}
	var err error
	if a.mounts, err = checkMounts(ao.Mounts, vols); err != nil {
		return a, err
	}
	if a.secrets, err = secretFiles("--environment-secret", ao.EnvSecrets, podSecrets); err != nil {
		return a, err
	}
	if ao.Name != "" {
		if _, err := types.NewACName(ao.Name); err != nil {
			return a, errdefs.New(ErrUsage, "app name %q is not valid (lower-case letters, digits and dashes)", ao.Name)
		}
	}
	if ao.WorkingDir != "" && !filepath.IsAbs(ao.WorkingDir) {
		return a, errdefs.New(ErrUsage, "working directory %q is not an absolute path", ao.WorkingDir)
	}
	if ao.PidsLimit < 0 {
		return a, errdefs.New(ErrUsage, "--pids-limit %d is negative", ao.PidsLimit)
	}
	if ao.OOMScoreAdj != nil {
		if err := stage1.CheckOOMScoreAdj(*ao.OOMScoreAdj); err != nil {
			return a, errdefs.New(ErrUsage, "%v", err)
		}
	}
	if ao.CapsRetain != nil && ao.CapsRemove != nil {
		return a, errdefs.New(ErrUsage, "give --caps-retain or --caps-remove, not both")
	}
	if ao.Seccomp != nil {
		if err := ao.Seccomp.Check(); err != nil {
			return a, errdefs.New(ErrUsage, "--seccomp: %v", err)
		}
	}
	return a, nil
}

// checkVolumes refuses two volumes of one name and a host volume whose
// source does not exist.
func checkVolumes(vols []types.Volume) error {
	seen := map[types.ACName]bool{}
	for _, vol := range vols {
		if seen[vol.Name] {
			return errdefs.New(ErrUsage, "two volumes are named %q", vol.Name)
		}
		seen[vol.Name] = true
		if vol.Kind == "host" {
			if _, err := os.Stat(vol.Source); err != nil {
				return errdefs.New(ErrUsage, "volume %s: source %s does not exist", vol.Name, vol.Source)
			}
		}
	}
	return nil
}

// checkMounts checks an app's mounts against each other and the pod's
// volumes, and returns them as the pod manifest has them.
func checkMounts(mounts []Mount, vols []types.Volume) ([]schema.Mount, error) {
	var out []schema.Mount
	for _, m := range mounts {
		for _, o := range out {
			if o.Path == m.Target {
				return nil, errdefs.New(ErrUsage, "mount %q: the app already has a mount on %s: give each target one --mount", m.Spec, m.Target)
			}
		}
		found := false
		for _, v := range vols {
			found = found || v.Name.String() == m.Volume
		}
		if !found {
			return nil, errdefs.New(ErrUsage, "mount %q: no volume %q: add it with --volume", m.Spec, m.Volume)
		}
		out = append(out, schema.Mount{Volume: types.ACName(m.Volume), Path: m.Target})
	}
	return out, nil
}

// secretFiles checks that each secret's file can be read and holds a value
// an environment variable can take, and returns the secrets added to base
// (which it leaves alone): a later secret for the same variable wins. The
// values themselves are dropped: stage1 reads them again when the pod
// starts.
func secretFiles(flag string, secrets []Secret, base map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(base)+len(secrets))
	for k, v := range base {
		out[k] = v
	}
	for _, s := range secrets {
		if _, err := stage1.ReadSecret(s.File); err != nil {
			return nil, errdefs.New(ErrUsage, "%s %s: %v", flag, s.Name, err)
		}
		out[s.Name] = s.File
	}
	return out, nil
}

// mergeRlimits keeps the last of the limits given for each resource, in
// the order each resource was first named: an app's own replaces the
// default.
func mergeRlimits(rs []stage1.Rlimit) []stage1.Rlimit {
	var out []stage1.Rlimit
	for i, r := range rs {
		same := func(o stage1.Rlimit) bool { return o.Resource == r.Resource }
		if slices.ContainsFunc(rs[:i], same) {
			continue // in out already, where it was first named
		}
		for _, later := range rs[i+1:] {
			if same(later) {
				r = later
			}
		}
		out = append(out, r)
	}
	return out
}

// resolveApps finds (or imports) each app's image and makes the app the
// pod manifest will run.
func (pl *plan) resolveApps(c Config, st *store.Store) error {
	seen := map[types.ACName]bool{}
	for i := range pl.apps {
		a := &pl.apps[i]
		var err error
		if a.id, err = resolveImage(c, st, a.opts.Image, pl.opts.InsecureImage); err != nil {
			return err
		}
		if a.manifest, _, err = st.Manifest(a.id); err != nil {
			return err
		}
		if err := checkPlatform(a.manifest); err != nil {
			return err
		}
		if a.name, err = appName(a.opts.Name, a.manifest); err != nil {
			return err
		}
		if seen[a.name] {
			return errdefs.New(ErrUsage, "two apps are named %q: give one another name with --name", a.name)
		}
		seen[a.name] = true
		if a.app, err = effectiveApp(a.manifest, a.opts, pl.opts.SetEnv); err != nil {
			return err
		}
		inheritEnv(a.app, pl.opts.InheritEnv)
		// A secret replaces any plain value of its variable, which the
		// manifest then does not show.
		for k := range a.secrets {
			a.app.Environment = removeEnv(a.app.Environment, k)
		}
	}
	return nil
}

// findTrees finds each app's image tree, whose users and groups the app's
// must be, and marks the image used. The store must be locked shared.
func (pl *plan) findTrees(st *store.Store) error {
	for i := range pl.apps {
		a := &pl.apps[i]
		tree, err := st.Tree(a.id)
		if err != nil {
			return fmt.Errorf("preparing image %s: %w", a.id, err)
		}
		a.tree = tree
		// A user or group the image does not have is refused now, before
		// a pod exists, rather than when the app starts.
		if _, _, err := passwd.Resolve(tree, a.app.User, a.app.Group); err != nil {
			return errdefs.New(ErrUsage, "app %s: %v", a.name, err)
		}
		if err := st.Touch(a.id); err != nil {
			return err
		}
	}
	return nil
}

// buildManifest makes the pod manifest of the plan.
func (pl *plan) buildManifest() error {
	pm := schema.BlankPodManifest()
	pm.Volumes = append(slices.Clone(pl.opts.Volumes), pl.implicit...)
	for i := range pl.apps {
		ra, err := pl.apps[i].runtimeApp()
		if err != nil {
			return err
		}
		pm.Apps = append(pm.Apps, ra)
	}
	if pl.opts.Name != "" {
		pm.Annotations.Set(lifecycle.AnnotationName, pl.opts.Name)
	}
	if pl.opts.Mutable {
		pm.Annotations.Set(lifecycle.AnnotationMutable, "true")
	}
	pm.UserLabels, pm.UserAnnotations = pl.labels, pl.annotations
	pl.opts.Source.annotate(pm)
	if err := pl.setNetwork(pm); err != nil {
		return err
	}
	if len(pl.devices) > 0 {
		v, err := stage1.FormatDevices(pl.devices)
		if err != nil {
			return err
		}
		pm.Annotations.Set(lifecycle.AnnotationDevices, v)
	}
	pl.pm = pm
	return pl.encodeManifest()
}

// encodeManifest writes pm as the manifest's bytes.
func (pl *plan) encodeManifest() error {
	b, err := json.Marshal(pl.pm)
	if err != nil {
		return fmt.Errorf("writing pod manifest: %w", err)
	}
	pl.manifest = b
	return nil
}

// giveUsers gives pod id its private users, if it asks for them, and
// records them in its manifest.
func (pl *plan) giveUsers(dataDir, id string) error {
	if !pl.opts.PrivateUsers.Enabled {
		return nil
	}
	u, err := allocateUsers(dataDir, id, pl.opts.PrivateUsers, pl.overlay(dataDir))
	if err != nil {
		return err
	}
	v, err := stage1.FormatPrivateUsers(u)
	if err != nil {
		return err
	}
	pl.users = u
	pl.pm.Annotations.Set(lifecycle.AnnotationPrivateUsers, v)
	return pl.encodeManifest()
}

// runtimeApp is the app as the pod manifest has it.
func (a *plannedApp) runtimeApp() (schema.RuntimeApp, error) {
	hash, err := types.NewHash(a.id)
	if err != nil {
		return schema.RuntimeApp{}, err
	}
	ra := schema.RuntimeApp{
		Name:   a.name,
		Image:  schema.RuntimeImage{Name: &a.manifest.Name, ID: *hash, Labels: a.manifest.Labels},
		App:    a.app,
		Mounts: a.mounts,
	}
	// appc has no isolator for these: annotations of podctl's own.
	if a.opts.PidsLimit > 0 {
		ra.Annotations.Set(lifecycle.AnnotationPidsLimit, strconv.Itoa(a.opts.PidsLimit))
	}
	if len(a.rlimits) > 0 {
		ra.Annotations.Set(lifecycle.AnnotationRlimits, stage1.FormatRlimits(a.rlimits))
	}
	if a.opts.OOMScoreAdj != nil {
		ra.Annotations.Set(lifecycle.AnnotationOOMScoreAdj, strconv.Itoa(*a.opts.OOMScoreAdj))
	}
	if a.opts.ReadOnlyRootfs {
		ra.Annotations.Set(lifecycle.AnnotationReadOnlyRootfs, "true")
	}
	if a.opts.Seccomp != nil && a.opts.Seccomp.Mode == custom.ModeUnconfined {
		ra.Annotations.Set(lifecycle.AnnotationSeccomp, custom.ModeUnconfined)
	}
	if len(a.secrets) > 0 {
		// The files' paths, never their content.
		b, err := json.Marshal(a.secrets)
		if err != nil {
			return schema.RuntimeApp{}, err
		}
		ra.Annotations.Set(lifecycle.AnnotationSecretEnv, string(b))
	}
	return ra, nil
}

// effectiveApp merges the image's app with the user's overrides, so the
// pod manifest alone tells stage1 what to run.
func effectiveApp(m *schema.ImageManifest, ao *AppOptions, setEnv []EnvVar) (*types.App, error) {
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
	for _, env := range [][]EnvVar{setEnv, ao.Env} {
		for _, e := range env {
			app.Environment.Set(e.Name, e.Value)
		}
	}
	if ao.User != "" {
		app.User = ao.User
	}
	if ao.Group != "" {
		app.Group = ao.Group
	}
	if ao.SupplementaryGIDs != nil {
		app.SupplementaryGIDs = slices.Clone(ao.SupplementaryGIDs)
	}
	if err := stage1.CheckSupplementaryGIDs(app.SupplementaryGIDs); err != nil {
		return nil, errdefs.New(ErrUsage, "image %s: %v", m.Name, err)
	}
	if ao.WorkingDir != "" {
		app.WorkingDirectory = ao.WorkingDir
	}
	for _, iso := range limitIsolators(ao) {
		// The command line's limit replaces the image's.
		app.Isolators.ReplaceIsolatorsByName(iso, []types.ACIdentifier{iso.Name})
	}
	if err := checkImageLimits(m, app.Isolators); err != nil {
		return nil, err
	}
	if err := confineApp(m, ao, &app); err != nil {
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

// limitIsolators are the appc isolators of an app's Memory, CPU and
// OOMScoreAdj.
func limitIsolators(ao *AppOptions) []types.Isolator {
	var out []types.Isolator
	if ao.Memory > 0 {
		// In the shorter of its decimal and binary forms: 64M, 64Mi.
		q := resource.NewQuantity(ao.Memory, resource.DecimalSI).String()
		if b := resource.NewQuantity(ao.Memory, resource.BinarySI).String(); len(b) < len(q) {
			q = b
		}
		if m, err := types.NewResourceMemoryIsolator(q, q); err == nil {
			out = append(out, m.AsIsolator())
		}
	}
	if ao.CPU > 0 {
		q := resource.NewMilliQuantity(ao.CPU, resource.DecimalSI).String()
		if c, err := types.NewResourceCPUIsolator(q, q); err == nil {
			out = append(out, c.AsIsolator())
		}
	}
	if ao.OOMScoreAdj != nil {
		// So the manifest does not show the image's value the flag replaced.
		if o, err := types.NewLinuxOOMScoreAdj(*ao.OOMScoreAdj); err == nil {
			out = append(out, o.AsIsolator())
		}
	}
	return out
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
			l := v.Limit()
			switch {
			case l == nil:
			case l.MilliValue() <= 0:
				return errdefs.New(ErrUsage, "image %s limits its app's CPU to %s (%s), which leaves it none: give --cpu", m.Name, l.String(), iso.Name)
			case l.MilliValue() < cgroup.MinCPUMillis:
				return errdefs.New(ErrUsage, "image %s limits its app's CPU to %s (%s), below %dm, the least the kernel gives: give --cpu %dm or more", m.Name, l.String(), iso.Name, cgroup.MinCPUMillis, cgroup.MinCPUMillis)
			}
		}
	}
	return nil
}
