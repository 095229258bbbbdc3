package kit

import (
	"errors"
	"time"

	"podctl/cgroup"
	"podctl/internal/rootless"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stats"
)

// Pod is a pod that a flavor's Run is running: what the prologue every
// flavor shares (Begin) made, and the steps that undo it, which End takes
// in reverse order.
type Pod struct {
	RC *stage1.RunContext
	// Specs are the apps to start, resolved from the pod manifest.
	Specs []AppSpec
	// Group is the pod's cgroup, made before any app starts.
	Group *cgroup.Group
	// appChildren: MakeAppCgroups makes the apps' folders in the
	// tracking hierarchy (Prologue.AppCgroups).
	appChildren bool
	// appCgroupsMade: MakeAppCgroups has run; it does its work once.
	appCgroupsMade bool
	// usage records the pod's usage while it runs (nil for a pod that
	// has no cgroups).
	usage *stats.Recording
	undo  []func() error
}

// Prologue says how Begin prepares a pod for a flavor.
type Prologue struct {
	// Confined apps get the isolated flavors' confinement (Confine).
	Confined bool
	// AppCgroups makes each app's cgroup below the pod's (NewAppChildren);
	// a flavor whose pod makes them itself (systemd) leaves it unset.
	AppCgroups bool
	// Also names v1 hierarchies the pod needs a cgroup in beside those
	// NewPodCgroupFor chooses (the systemd flavor's name=systemd).
	Also []string
	// AppCgroupsLater leaves the apps' cgroups (NewAppGroups, and with
	// AppCgroups NewAppChildren) for the flavor to make with
	// Pod.MakeAppCgroups, beside what it does meanwhile: the kernel
	// makes cgroup folders one at a time, and a v1 memory folder takes it
	// the better part of a millisecond.
	AppCgroupsLater bool
}

// Begin is the prologue of every flavor's Run: it resolves the apps,
// records stage1's pid, makes the pod's cgroups and starts recording the
// pod's usage into them. A failure undoes what was done and is returned:
// no app has started.
func Begin(rc *stage1.RunContext, how Prologue) (*Pod, error) {
	p := &Pod{RC: rc}
	specs, err := AppSpecs(rc.Pod, rc.Manifest)
	if err != nil {
		return nil, err
	}
	if how.Confined {
		Confine(specs)
		if err := AssembleFilters(specs); err != nil {
			return nil, err
		}
	}
	p.Specs = specs
	if err := WritePodPid(rc.Pod); err != nil {
		rc.Warn(err)
	}
	if rootless.Inside() {
		// An ordinary user's pod: no cgroup of the host is the user's to
		// make (stage0 refused the limits that would need one).
		if err := cgroupless(specs); err != nil {
			return nil, err
		}
		p.Group = &cgroup.Group{}
		return p, nil
	}
	g, err := NewPodCgroupFor(rc.Pod, specs, how.Also...)
	if err != nil {
		return nil, err
	}
	p.Group, p.appChildren = g, how.AppCgroups
	p.Defer(func() error { return EndCgroups(rc.Pod, g) })
	if !how.AppCgroupsLater {
		if err := p.MakeAppCgroups(); err != nil {
			p.End()
			return nil, err
		}
	}
	names := p.AppNames()
	// From this process, which no pause freezes, while the pod runs.
	p.usage = stats.Record(rc.Pod, g.Dirs, names, stats.DefaultInterval(), rc.Warn)
	p.Defer(func() error { p.usage.Stop(); return nil })
	return p, nil
}

// EndCgroups ends what is left in the pod's cgroups g and removes them;
// then their record, so that gc, which reads the record of every pod it
// marks and removes, has no folder to look up. A stage1 killed before
// this leaves the record, and gc the work.
func EndCgroups(p *lifecycle.Pod, g *cgroup.Group) error {
	if err := g.Kill(cgroup.KillWait); err != nil {
		return err
	}
	if err := g.Remove(); err != nil {
		return err
	}
	return removeCgroupRecord(p)
}

// HandOverUsage stops recording the pod's usage, for a process that
// takes it up a sample at a time (stats.SampleOnce), and returns how long
// until its next sample is due and the sampler's state; ok is false for a
// pod that records none.
func (p *Pod) HandOverUsage() (next time.Duration, state string, ok bool) {
	if p.usage == nil {
		return 0, "", false
	}
	next, state = p.usage.Handover()
	return next, state, true
}

// RecordUsage records the pod's usage again, after HandOverUsage, for a
// hand-over that did not happen.
func (p *Pod) RecordUsage() {
	if p.usage != nil {
		p.usage = stats.Record(p.RC.Pod, p.Group.Dirs, p.AppNames(), 0, p.RC.Warn)
	}
}

// AppNames are the names of the pod's apps, in the manifest's order.
func (p *Pod) AppNames() []string {
	names := make([]string, len(p.Specs))
	for i, s := range p.Specs {
		names[i] = s.Name
	}
	return names
}

// MakeAppCgroups makes each app's cgroups below the pod's and tells its
// spec which they are (NewAppGroups; NewAppChildren if the flavor asked
// for AppCgroups): in Begin, or, with AppCgroupsLater, when the flavor
// calls it, before any app starts; a second call does nothing. Those
// made stay on error, for End to remove with the pod's.
func (p *Pod) MakeAppCgroups() error {
	if p.Cgroupless() || p.appCgroupsMade {
		return nil
	}
	p.appCgroupsMade = true
	if err := NewAppGroups(p.Group, p.Specs); err != nil {
		return err
	}
	if p.appChildren {
		return NewAppChildren(p.Group, p.Specs)
	}
	return nil
}

// Defer adds a step to undo when the pod ends, before those added earlier.
func (p *Pod) Defer(undo func() error) {
	p.undo = append(p.undo, undo)
}

// End is the epilogue of every flavor's Run: it undoes what the pod made,
// the latest first, and gives each failure to the run's Warn. Once is
// enough: a second call does nothing.
func (p *Pod) End() {
	undo := p.undo
	p.undo = nil
	for i := len(undo) - 1; i >= 0; i-- {
		if err := undo[i](); err != nil {
			p.RC.Warn(err)
		}
	}
}

// cgroupless makes the apps of a pod that has no cgroups ready to run
// without them: no device cgroup (what an app may open is what the user
// may), and no limit, which an image may ask for.
func cgroupless(specs []AppSpec) error {
	for i := range specs {
		if !specs[i].Limits.None() {
			return errors.New("app " + specs[i].Name + " has a memory, CPU or process limit, which needs cgroups, and podctl sets them only as root: run the pod as root")
		}
		specs[i].Limits.Devices = false
	}
	return nil
}

// Cgroupless reports whether the pod runs without cgroups (an ordinary
// user's pod).
func (p *Pod) Cgroupless() bool { return len(p.Group.Dirs) == 0 }
