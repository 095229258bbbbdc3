package stage0

import (
	"os"
	"strings"

	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
)

// Enter runs cmd inside an app of a running pod and returns its exit code.
// app may be empty when the pod has a single app.
func Enter(c Config, id, app string, cmd []string, stdio stage1.Stdio) (int, error) {
	p, err := c.OpenPod(id)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	if p.State() != lifecycle.Running {
		return 0, errdefs.New(ErrUsage, "pod %s is %s: only a running pod can be entered", p.UUID, p.State())
	}
	if IsPaused(p) {
		// Nothing joins a frozen cgroup and runs: the command would wait
		// for the pod's resume, silently.
		return 0, errdefs.New(ErrUsage, "pod %s is paused: resume it first (podctl resume %s)", p.UUID, p.UUID)
	}
	_, m, err := p.PodManifest()
	if err != nil {
		return 0, err
	}
	var names []string
	for _, ra := range m.Apps {
		names = append(names, ra.Name.String())
	}
	switch {
	case app == "" && len(names) == 1:
		app = names[0]
	case app == "":
		return 0, errdefs.New(ErrUsage, "pod %s has several apps (%s): choose one with --app", p.UUID, strings.Join(names, ", "))
	case m.Apps.Get(types.ACName(app)) == nil:
		return 0, errdefs.New(ErrUsage, "pod %s has no app %q (it has %s)", p.UUID, app, strings.Join(names, ", "))
	}
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh"}
	}
	if os.Geteuid() != 0 {
		return enterUserNS(c, p, app, cmd, stdio)
	}
	f, err := flavorFor(p)
	if err != nil {
		return 0, err
	}
	return f.Enter(p, app, cmd, stdio)
}
