package stage0

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
	"podctl/store"
)

// A pod from the user's own pod manifest (run --pod-manifest, prepare
// --pod-manifest): the apps, volumes, ports, isolators and annotations are
// the manifest's, as written, with each app's image found in the store by
// its ID (or, without one, its name). Nothing is imported: fetch the images
// first. An app without an app section runs its image's. The manifest may
// not carry podctl's own annotations (podctl.io/...): they are facts stage1
// acts on that only podctl writes.

// maxPodManifest bounds a pod manifest file; real ones are a few KiB.
const maxPodManifest = 1 << 20

// ReadPodManifest reads a --pod-manifest file.
func ReadPodManifest(path string) (*schema.PodManifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errdefs.New(ErrUsage, "--pod-manifest %s: %v", path, err)
	}
	defer f.Close()
	pm, err := ParsePodManifest(io.LimitReader(f, maxPodManifest+1))
	if err != nil {
		return nil, errdefs.New(ErrUsage, "--pod-manifest %s: %v", path, err)
	}
	return pm, nil
}

// ParsePodManifest reads and checks a pod manifest given by the user.
func ParsePodManifest(r io.Reader) (*schema.PodManifest, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(b) > maxPodManifest {
		return nil, fmt.Errorf("larger than %d bytes", maxPodManifest)
	}
	var pm schema.PodManifest
	if err := json.Unmarshal(b, &pm); err != nil {
		return nil, fmt.Errorf("not an appc pod manifest: %s", oneLine(err.Error()))
	}
	if len(pm.Apps) == 0 {
		return nil, errors.New("the manifest has no apps: list at least one in \"apps\"")
	}
	if err := checkOwnAnnotations("the pod", pm.Annotations); err != nil {
		return nil, err
	}
	seen := map[types.ACName]bool{}
	for _, ra := range pm.Apps {
		if seen[ra.Name] {
			return nil, fmt.Errorf("two apps are named %q", ra.Name)
		}
		seen[ra.Name] = true
		if ra.Image.ID.Empty() && (ra.Image.Name == nil || ra.Image.Name.Empty()) {
			return nil, fmt.Errorf("app %s names no image: give its image's \"id\"", ra.Name)
		}
		if err := checkOwnAnnotations("app "+ra.Name.String(), ra.Annotations); err != nil {
			return nil, err
		}
		for _, m := range ra.Mounts {
			if pm.Volumes == nil || !hasVolume(pm.Volumes, m.Volume) {
				return nil, fmt.Errorf("app %s mounts volume %q, which the manifest's \"volumes\" lack", ra.Name, m.Volume)
			}
			if m.AppVolume != nil {
				return nil, fmt.Errorf("app %s: a mount's own \"appVolume\" is not supported: list the volume in \"volumes\"", ra.Name)
			}
		}
	}
	return &pm, nil
}

func hasVolume(vols []types.Volume, name types.ACName) bool {
	for _, v := range vols {
		if v.Name == name {
			return true
		}
	}
	return false
}

// checkOwnAnnotations refuses podctl's own annotations in a manifest the
// user wrote.
func checkOwnAnnotations(what string, as types.Annotations) error {
	for _, a := range as {
		if strings.HasPrefix(a.Name.String(), lifecycle.AnnotationPrefix) {
			return fmt.Errorf("%s has annotation %s, which only podctl sets: leave it out (podctl's flags set it)", what, a.Name)
		}
	}
	return nil
}

// oneLine joins the lines of a message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// checkPodManifestOptions starts the plan of a pod from opts.PodManifest.
func checkPodManifestOptions(opts *PrepareOptions) (*plan, error) {
	if len(opts.Apps) > 0 {
		return nil, errdefs.New(ErrUsage, "--pod-manifest names the images: give no image arguments with it")
	}
	if opts.Name != "" {
		if err := CheckPodName(opts.Name); err != nil {
			return nil, err
		}
	}
	if err := checkVolumes(opts.PodManifest.Volumes); err != nil {
		return nil, err
	}
	pl := &plan{opts: opts}
	for i := range opts.PodManifest.Apps {
		// Options of their own, for what reads a planned app's (the image
		// reference, the name).
		ra := &opts.PodManifest.Apps[i]
		ao := &AppOptions{Name: ra.Name.String(), Image: ra.Image.ID.String()}
		if ra.Image.ID.Empty() {
			ao.Image = ra.Image.Name.String()
		}
		pl.apps = append(pl.apps, plannedApp{opts: ao, name: ra.Name})
	}
	return pl, nil
}

// resolveManifestApps finds each app's image in the store and completes
// the manifest's app: its image's full ID, name and labels, and its
// image's app where it has none.
func (pl *plan) resolveManifestApps(st *store.Store) error {
	pm := pl.opts.PodManifest
	for i := range pl.apps {
		a, ra := &pl.apps[i], &pm.Apps[i]
		id, err := st.Resolve(a.opts.Image)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errdefs.New(ErrUsage, "app %s: no image %s in the store: fetch it first", ra.Name, a.opts.Image)
			}
			return fmt.Errorf("app %s: %w", ra.Name, err)
		}
		a.id = id
		if a.manifest, _, err = st.Manifest(id); err != nil {
			return err
		}
		if err := checkPlatform(a.manifest); err != nil {
			return err
		}
		hash, err := types.NewHash(id)
		if err != nil {
			return err
		}
		ra.Image = schema.RuntimeImage{Name: &a.manifest.Name, ID: *hash, Labels: a.manifest.Labels}
		if ra.App == nil {
			if a.manifest.App == nil {
				return errdefs.New(ErrUsage, "app %s: neither the manifest nor image %s says what to run: give the app an \"app\" section with \"exec\"", ra.Name, a.manifest.Name)
			}
			// The image's app, confined as an image's app always is: an
			// image cannot lift no_new_privs, only the user can.
			app := *a.manifest.App
			if err := confineApp(a.manifest, &AppOptions{}, &app); err != nil {
				return err
			}
			ra.App = &app
		}
		if err := checkManifestApp(a.manifest, ra.App); err != nil {
			return errdefs.New(ErrUsage, "app %s: %v", ra.Name, err)
		}
		if len(ra.App.Exec) == 0 {
			return errdefs.New(ErrUsage, "app %s has no \"exec\": say what it runs", ra.Name)
		}
		if ra.App.User == "" {
			ra.App.User = "0"
		}
		if ra.App.Group == "" {
			ra.App.Group = "0"
		}
		a.app = ra.App
	}
	return nil
}

// checkManifestApp refuses isolators an app of the manifest could not run
// with, as the flags that set them would.
func checkManifestApp(m *schema.ImageManifest, app *types.App) error {
	if err := checkImageLimits(m, app.Isolators); err != nil {
		return err
	}
	if _, _, err := stage1.AppCapabilities(app.Isolators); err != nil {
		return err
	}
	if _, err := kit.AppSeccomp(app.Isolators); err != nil {
		return err
	}
	return stage1.CheckSupplementaryGIDs(app.SupplementaryGIDs)
}

// useManifest makes the user's manifest, completed, the plan's: with the
// pod's name and network options of the command line, and each exposed
// port checked against the ports the apps declare.
func (pl *plan) useManifest() error {
	pm := pl.opts.PodManifest
	for i := range pm.Ports {
		ep := &pm.Ports[i]
		if ep.PodPort == nil {
			decl, err := pl.declaredPort(ep.Name.String())
			if err != nil {
				return errdefs.New(ErrUsage, "the manifest's port %s: no app declares it", ep.Name)
			}
			ep.PodPort = decl
		}
	}
	ports := pm.Ports
	if err := pl.setNetwork(pm); err != nil {
		return err
	}
	pm.Ports = ports
	if pl.opts.Name != "" {
		pm.Annotations.Set(lifecycle.AnnotationName, pl.opts.Name)
	}
	pl.pm = pm
	return pl.encodeManifest()
}
