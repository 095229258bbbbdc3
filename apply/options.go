package apply

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/sys/capability"

	"podctl/podfile"
	"podctl/stage0"
	"podctl/stage1"
)

// DefaultStopGrace is how long a pod whose file gives no grace period has
// to stop, as podctl stop's default.
const DefaultStopGrace = 10 * time.Second

// plan is one pod file made ready to apply.
type plan struct {
	pod  *podfile.Pod
	opts *stage0.PrepareOptions
	// restart, backoff and ready are run-prepared's --restart,
	// --restart-backoff and --ready.
	restart, ready string
	backoff        time.Duration
	grace          time.Duration
}

// fileError is an error about a pod file: one line, the file first.
func fileError(p *podfile.Pod, err error) error {
	return fmt.Errorf("%s: %v", p.File, err)
}

// makePlan checks every value of a pod file with the parsers of run's
// flags and turns it into prepare's options.
func makePlan(p *podfile.Pod) (*plan, error) {
	bad := func(err error) (*plan, error) { return nil, fileError(p, err) }
	if err := checkOwner(p); err != nil {
		return bad(err)
	}
	if err := stage0.CheckPodName(p.Name); err != nil {
		return bad(err)
	}
	pl := &plan{pod: p, restart: p.Restart, ready: p.Ready, grace: DefaultStopGrace}
	if pl.restart == "" {
		// A declared pod is a service: kept running.
		pl.restart = stage1.RestartAlways
	}
	if _, err := stage1.ParseRestartPolicy(pl.restart); err != nil {
		return bad(err)
	}
	pl.backoff = stage1.DefaultRestartBackoff
	if p.RestartBackoff != "" {
		d, err := time.ParseDuration(p.RestartBackoff)
		if err != nil || d <= 0 {
			return bad(fmt.Errorf("restart backoff %q is not a duration above zero such as 10s", p.RestartBackoff))
		}
		pl.backoff = d
	}
	if pl.ready == "" {
		pl.ready = "started"
	}
	if pl.ready != "started" && pl.ready != "notify" {
		return bad(fmt.Errorf("ready %q: choose started or notify", pl.ready))
	}
	if p.StopGrace != "" {
		d, err := time.ParseDuration(p.StopGrace)
		if err != nil || d < 0 {
			return bad(fmt.Errorf("stop grace period %q is not a duration such as 30s", p.StopGrace))
		}
		pl.grace = d
	}
	o := &stage0.PrepareOptions{Name: p.Name, Flavor: p.Flavor, InsecureImage: p.InsecureImage,
		Source: &stage0.Source{File: p.File, Digest: p.Digest, StopGrace: pl.grace}}
	for _, k := range sortedKeys(p.Labels) {
		kv, err := stage0.ParseLabel(k + "=" + p.Labels[k])
		if err != nil {
			return bad(err)
		}
		o.Labels = append(o.Labels, kv)
	}
	for _, k := range sortedKeys(p.Annotations) {
		kv, err := stage0.ParseAnnotation(k + "=" + p.Annotations[k])
		if err != nil {
			return bad(err)
		}
		o.Annotations = append(o.Annotations, kv)
	}
	o.Network.Net, o.Network.Hostname = p.Net, p.Hostname
	for _, s := range p.Ports {
		port, err := stage0.ParsePort(s)
		if err != nil {
			return bad(err)
		}
		o.Network.Ports = append(o.Network.Ports, port)
	}
	for _, s := range p.Volumes {
		v, err := stage0.ParseVolume(s)
		if err != nil {
			return bad(err)
		}
		o.Volumes = append(o.Volumes, v)
	}
	for i := range p.Apps {
		ao, err := appOptions(&p.Apps[i])
		if err != nil {
			return bad(fmt.Errorf("app %s: %v", appLabel(&p.Apps[i], i), err))
		}
		o.Apps = append(o.Apps, *ao)
	}
	pl.opts = o
	return pl, nil
}

// checkOwner refuses, to root, a pod file that someone else may change:
// whoever writes a pod file has root start the pod it says, with the
// volumes and capabilities it asks for (as cron and sshd refuse such
// files).
func checkOwner(p *podfile.Pod) error {
	if os.Geteuid() != 0 || p.Mode == 0 {
		// Not read from a file (Parse), or not for root.
		return nil
	}
	if p.Owner != 0 {
		return fmt.Errorf("owned by uid %d, not root: whoever may change a pod file has root run its pod: chown root %s", p.Owner, p.File)
	}
	if p.Mode.Perm()&0o022 != 0 {
		return fmt.Errorf("writable by group or others (mode %04o): whoever may change a pod file has root run its pod: chmod go-w %s", p.Mode.Perm(), p.File)
	}
	return nil
}

func appLabel(a *podfile.App, i int) string {
	if a.Name != "" {
		return a.Name
	}
	return fmt.Sprint(i + 1)
}

// appOptions checks one app.
func appOptions(a *podfile.App) (*stage0.AppOptions, error) {
	ao := &stage0.AppOptions{Image: a.Image, Name: a.Name, Exec: a.Exec, User: a.User, Group: a.Group,
		WorkingDir: a.WorkingDir, ReadOnlyRootfs: a.ReadOnlyRootfs, NoNewPrivileges: a.NoNewPrivileges}
	if a.HasArgs {
		// Set, even empty: the file's list replaces the image's.
		ao.Args = append([]string{}, a.Args...)
	}
	for _, s := range a.Env {
		e, err := stage0.ParseEnv(s)
		if err != nil {
			return nil, err
		}
		ao.Env = append(ao.Env, e)
	}
	for _, s := range a.Mounts {
		m, err := stage0.ParseMount(s)
		if err != nil {
			return nil, err
		}
		ao.Mounts = append(ao.Mounts, m)
	}
	var err error
	if a.Memory != "" {
		if ao.Memory, err = stage0.ParseMemory(a.Memory); err != nil {
			return nil, err
		}
	}
	if a.CPU != "" {
		if ao.CPU, err = stage0.ParseCPU(a.CPU); err != nil {
			return nil, err
		}
	}
	if err := appCaps(a, ao); err != nil {
		return nil, err
	}
	return ao, nil
}

// appCaps sets an app's capabilities: podctl's capsRetain and capsRemove,
// or Kubernetes' add and drop, which start from the default ones (drop
// ALL from none).
func appCaps(a *podfile.App, ao *stage0.AppOptions) error {
	parse := func(names []string) ([]capability.Cap, error) {
		if len(names) == 0 {
			return nil, nil
		}
		return stage0.ParseCapabilities(strings.Join(names, ","))
	}
	var err error
	if ao.CapsRetain, err = parse(a.CapsRetain); err != nil {
		return err
	}
	dropAll := slices.ContainsFunc(a.CapsRemove, func(s string) bool { return strings.EqualFold(s, "ALL") })
	if !dropAll {
		if ao.CapsRemove, err = parse(a.CapsRemove); err != nil {
			return err
		}
	}
	if len(a.CapsAdd) == 0 && !dropAll {
		return nil
	}
	add, err := parse(a.CapsAdd)
	if err != nil {
		return err
	}
	keep := []capability.Cap{}
	if !dropAll {
		for _, c := range stage1.DefaultCapabilities {
			if !slices.Contains(ao.CapsRemove, c) {
				keep = append(keep, c)
			}
		}
	}
	for _, c := range add {
		if !slices.Contains(keep, c) {
			keep = append(keep, c)
		}
	}
	ao.CapsRetain, ao.CapsRemove = keep, nil
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
