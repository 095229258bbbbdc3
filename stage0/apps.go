package stage0

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/internal/rootless"
	"podctl/lifecycle"
	"podctl/stage1"
)

// The app verbs of a mutable pod (podctl app add|start|stop|rm). stage0
// changes the pod's files (an app's folder, the manifest under its lock,
// lifecycle.UpdateManifest); the pod's stage1 starts and stops the app
// (stage1.SendAppControl). The isolated flavors, native and systemd, run
// mutable pods.

// mutableFlavors are the flavors that run mutable pods.
var mutableFlavors = []string{"native", "systemd"}

// checkMutable refuses a mutable pod that podctl cannot run.
func checkMutable(opts *PrepareOptions) error {
	if !opts.Mutable {
		return nil
	}
	switch {
	case rootless.Active():
		return errdefs.New(ErrUsage, "--mutable pods run as root only: run podctl as root")
	case !slices.Contains(mutableFlavors, flavorName(opts)):
		return errdefs.New(ErrUsage, "--mutable pods run on the native and systemd flavors, not %s: give --stage1=native or --stage1=systemd", flavorName(opts))
	case opts.PrivateUsers.Enabled:
		return errdefs.New(ErrUsage, "--mutable pods share the host's users: leave out --private-users")
	case opts.Network.MDS:
		// The service and the apps' URL are made when the pod starts: an
		// app added later would get neither.
		return errdefs.New(ErrUsage, "--mutable pods have no metadata service: leave out --mds-register")
	}
	return nil
}

// openMutable opens a running mutable pod for an app verb and reads its
// manifest. The caller closes the pod.
func openMutable(c Config, id string) (*lifecycle.Pod, *schema.PodManifest, error) {
	p, err := c.OpenPod(id)
	if err != nil {
		return nil, nil, err
	}
	_, m, err := p.SandboxManifest()
	switch {
	case errors.Is(err, lifecycle.ErrImmutable):
		err = errdefs.New(ErrUsage, "%v", err)
	case err != nil:
	case p.State() != lifecycle.Running:
		err = errdefs.New(ErrUsage, "pod %s is %s: apps are added, started, stopped and removed while the pod runs", p.UUID, p.State())
	case IsPaused(p):
		err = errdefs.New(ErrUsage, "pod %s is paused: resume it first (podctl resume %s)", p.UUID, p.UUID)
	}
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, m, nil
}

// AddApp adds an app to a running mutable pod, not started (StartApp
// starts it), and returns its name. The image is found or imported as
// for prepare; the app gets the pod's volumes to mount.
func AddApp(c Config, id string, ao AppOptions, insecureImage bool) (string, error) {
	p, m, err := openMutable(c, id)
	if err != nil {
		return "", err
	}
	defer p.Close()
	flavor, err := p.Flavor()
	if err != nil {
		return "", err
	}
	pl, err := checkOptions(&PrepareOptions{Apps: []AppOptions{ao}, Volumes: m.Volumes, InsecureImage: insecureImage, Flavor: flavor})
	if err != nil {
		return "", err
	}
	st, err := c.OpenStore()
	if err != nil {
		return "", err
	}
	defer st.Close()
	if err := pl.resolveApps(c, st); err != nil {
		return "", err
	}
	// Image gc must not take the tree away before the manifest names it.
	unlock, err := st.LockShared()
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := pl.findTrees(st); err != nil {
		return "", err
	}
	// As prepare does: refused before the pod is touched, and said.
	if err := pl.checkHandlers(); err != nil {
		return "", err
	}
	pl.warnUnapplied(c)
	a := &pl.apps[0]
	ra, err := a.runtimeApp()
	if err != nil {
		return "", err
	}
	name := a.name.String()
	appDir := p.FilePath(lifecycle.AppDir(name))
	err = p.UpdateManifest(func(m *schema.PodManifest) error {
		if m.Apps.Get(a.name) != nil {
			return errdefs.New(ErrUsage, "pod %s has an app %s already: give the new one another name with --name", p.UUID, name)
		}
		// Left by an add that died half way: the manifest never named it.
		if err := os.RemoveAll(appDir); err != nil {
			return err
		}
		if err := layOutApp(appDir, a.tree, pl.overlay(p.Path())); err != nil {
			os.RemoveAll(appDir)
			return fmt.Errorf("adding app %s: %w", name, err)
		}
		m.Apps = append(m.Apps, ra)
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := stage1.SendAppControl(p, stage1.AppAdd, name); err != nil {
		// Taken back, so that nothing is half added.
		if rerr := forgetApp(p, name); rerr != nil {
			err = fmt.Errorf("%w; %v", err, rerr)
		}
		return "", errdefs.New(ErrUsage, "%v", err)
	}
	return name, nil
}

// StartApp starts an app of a running mutable pod: one just added, or
// one that exited or was stopped.
func StartApp(c Config, id, app string) error {
	return appVerb(c, id, app, stage1.AppStart)
}

// StopApp stops a running app of a mutable pod, as podctl stop stops a
// pod: SIGTERM, and SIGKILL after 10 s. It returns once the app has
// ended, its status recorded; the pod goes on.
func StopApp(c Config, id, app string) error {
	return appVerb(c, id, app, stage1.AppStop)
}

// RemoveApp stops an app of a running mutable pod if it runs, and
// removes it from the pod: its manifest entry, its files and its logs.
func RemoveApp(c Config, id, app string) error {
	p, err := appVerbPod(c, id, app, stage1.AppRemove)
	if err != nil {
		return err
	}
	defer p.Close()
	return forgetApp(p, app)
}

// appVerb asks the pod's stage1 to do op on app.
func appVerb(c Config, id, app string, op stage1.AppOp) error {
	p, err := appVerbPod(c, id, app, op)
	if err == nil {
		p.Close()
	}
	return err
}

// appVerbPod checks that the pod has app and asks its stage1 to do op on
// it; it returns the pod, open, when stage1 did.
func appVerbPod(c Config, id, app string, op stage1.AppOp) (*lifecycle.Pod, error) {
	p, m, err := openMutable(c, id)
	if err != nil {
		return nil, err
	}
	if err := checkHasApp(p, m, app); err != nil {
		p.Close()
		return nil, err
	}
	if err := stage1.SendAppControl(p, op, app); err != nil {
		p.Close()
		return nil, errdefs.New(ErrUsage, "%v", err)
	}
	return p, nil
}

// checkHasApp refuses an app the pod does not have.
func checkHasApp(p *lifecycle.Pod, m *schema.PodManifest, app string) error {
	if app == "" {
		return errdefs.New(ErrUsage, "name the app with --app")
	}
	if m.Apps.Get(types.ACName(app)) != nil {
		return nil
	}
	names := make([]string, 0, len(m.Apps))
	for _, ra := range m.Apps {
		names = append(names, ra.Name.String())
	}
	has := "no app"
	if len(names) > 0 {
		has = strings.Join(names, ", ")
	}
	return errdefs.New(ErrUsage, "pod %s has no app %q (it has %s)", p.UUID, app, has)
}

// forgetApp takes an app out of the pod's manifest, then removes its
// folder.
func forgetApp(p *lifecycle.Pod, app string) error {
	err := p.UpdateManifest(func(m *schema.PodManifest) error {
		out := m.Apps[:0]
		for _, ra := range m.Apps {
			if ra.Name.String() != app {
				out = append(out, ra)
			}
		}
		m.Apps = out
		return nil
	})
	if err != nil {
		return err
	}
	if err := os.RemoveAll(p.FilePath(lifecycle.AppDir(app))); err != nil {
		return fmt.Errorf("removing app %s: %w", app, err)
	}
	return nil
}

// AppStatus is one app of a pod as podctl app status shows it.
func AppStatus(c Config, id, app string) (*AppInfo, error) {
	pi, err := Status(c, id)
	if err != nil {
		return nil, err
	}
	for i := range pi.Apps {
		if pi.Apps[i].Name == app {
			return &pi.Apps[i], nil
		}
	}
	return nil, errdefs.New(ErrUsage, "pod %s has no app %q", pi.UUID, app)
}

// AppList lists the apps of a pod, as podctl app list shows them.
func AppList(c Config, id string) ([]AppInfo, error) {
	pi, err := Status(c, id)
	if err != nil {
		return nil, err
	}
	return pi.Apps, nil
}
