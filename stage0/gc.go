package stage0

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"podctl/datadir"
	"podctl/events"
	"podctl/internal/errdefs"
	"podctl/internal/timefmt"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/flavors"
)

// GCOptions are the choices of a gc run.
type GCOptions struct {
	// GracePeriod is how long an exited pod stays after gc marks it.
	GracePeriod time.Duration
	// ExpirePrepared is how long a prepared pod may wait to be run.
	ExpirePrepared time.Duration
	// MarkOnly marks pods but removes none.
	MarkOnly bool
	// Now is the time the run takes as now; zero means time.Now().
	Now time.Time
}

// GCEvent is one thing a gc run did or chose not to do.
type GCEvent struct {
	UUID string
	// What is "marked", "removed", "kept", "released" (the networks of a
	// pod that is gone) or "error".
	What string
	// Message says it in a sentence.
	Message string
}

// checkGCDurations refuses a negative grace period or expiry.
func checkGCDurations(opts GCOptions) error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--grace-period", opts.GracePeriod}, {"--expire-prepared", opts.ExpirePrepared}} {
		if d.v < 0 {
			return errdefs.New(ErrUsage, "%s=%s is negative: give 0s or more", d.flag, d.v)
		}
	}
	return nil
}

// GC collects pods: it marks exited pods and aborted or expired prepares
// for collection, and removes those whose grace period is over, calling
// their flavor's gc first. Busy pods (running, being prepared, or being
// handled by another gc) are skipped, so gc is safe from cron, twice at once
// and beside pods that start and stop. Each pod is looked at a fixed number
// of times and the mount table is read once, so a run's cost grows linearly
// with the number of pods. report is called for every event; errors on one
// pod are reported and the run goes on.
func GC(c Config, opts GCOptions, report func(GCEvent)) error {
	if err := checkGCDurations(opts); err != nil {
		return err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	g := &collector{c: c, opts: opts}
	// The walks below hand pods to several goroutines: one report at a
	// time.
	var mu sync.Mutex
	say := report
	report = func(e GCEvent) {
		mu.Lock()
		defer mu.Unlock()
		say(e)
	}
	g.report = report
	// One appender for the marks' events: opening the log for each was
	// a fifth of a mark's calls. Closed before the sweep, so that the
	// log's lock, which a rotation by another process waits for, is not
	// held across removals that wait for the disk; a removal records its
	// event on its own, a small part of its cost.
	g.events = events.NewAppender(c.DataDir)
	err := g.markAll(now)
	if err == nil && !opts.MarkOnly {
		err = g.expirePrepared(now)
	}
	if cerr := g.events.Close(); cerr != nil {
		events.Warn(cerr)
	}
	g.events = nil
	if err != nil || opts.MarkOnly {
		return err
	}
	// Sweep: remove what is past its grace period, counting to now: pods
	// this run marked are due at once with a zero grace period.
	if opts.Now.IsZero() {
		now = time.Now()
	}
	if err := g.sweep(now); err != nil {
		return err
	}
	// Networks held by pods that are gone, or by none after a reboot.
	if err := releaseStaleNetworks(c.DataDir, report); err != nil {
		report(GCEvent{"", "error", err.Error()})
	}
	// Names whose pods a crash removed without releasing them. They are
	// free already; this only keeps the index small.
	if err := sweepNames(c.DataDir); err != nil {
		report(GCEvent{"", "error", err.Error()})
	}
	return nil
}

// markAll marks exited pods, aborted prepares and embryos left by a crash.
// Pods are marked one per CPU at a time: a mark is a few dozen system
// calls, and each pod's is its own (its lock, its rename). An exited pod
// comes from the walk already locked (WalkPodsMarking), which mark keeps.
func (g *collector) markAll(now time.Time) error {
	return lifecycle.WalkPodsMarking(g.c.DataDir, lifecycle.IncludeEmbryoDir|lifecycle.IncludeRunDir|lifecycle.IncludePrepareDir, func(_ int, p *lifecycle.Pod) {
		p.RecordEventsWith(g.events)
		switch p.State() {
		case lifecycle.Embryo:
			if p.IsStaleEmbryo(now) {
				g.mark(p, (*lifecycle.Pod).ToGarbage, fmt.Sprintf("marked pod %s, left half-created, for collection", p.UUID))
			}
		case lifecycle.Exited:
			g.mark(p, g.killLeftovers, fmt.Sprintf("marked exited pod %s for collection; a gc run after %s (grace period %s) removes it",
				p.UUID, timefmt.Text(now.Add(g.opts.GracePeriod)), g.opts.GracePeriod))
		case lifecycle.AbortedPrepare:
			g.mark(p, (*lifecycle.Pod).ToGarbage, fmt.Sprintf("marked pod %s, whose preparation was aborted, for collection", p.UUID))
		}
	})
}

// expirePrepared marks the prepared pods nobody ran.
func (g *collector) expirePrepared(now time.Time) error {
	return lifecycle.WalkPods(g.c.DataDir, lifecycle.IncludePreparedDir, func(p *lifecycle.Pod) {
		p.RecordEventsWith(g.events)
		t, err := p.PreparedTime()
		if err != nil {
			g.fail(p, err)
			return
		}
		if p.State() == lifecycle.Prepared && now.Sub(t) >= g.opts.ExpirePrepared {
			g.mark(p, (*lifecycle.Pod).ToGarbage, fmt.Sprintf("marked pod %s, prepared %s ago and never run, for collection", p.UUID, now.Sub(t).Round(time.Second)))
		}
	})
}

// sweep removes the marked pods whose grace period is over at now.
func (g *collector) sweep(now time.Time) error {
	// One sync of the folders for every pod marked so far, not one a pod.
	synced, err := lifecycle.SyncGarbageFolders(g.c.DataDir)
	if err != nil {
		return err
	}
	g.synced = synced
	// Removal waits on the disk more than it computes: a few more
	// goroutines than CPUs keep the disk's queue full.
	return lifecycle.WalkPodsN(g.c.DataDir, lifecycle.IncludeExitedGarbageDir|lifecycle.IncludeGarbageDir, sweepWorkers, func(_ int, p *lifecycle.Pod) {
		switch p.State() {
		case lifecycle.ExitedGarbage:
			marked, err := p.GCMarkedTime()
			if err != nil {
				g.fail(p, err)
				return
			}
			if due := marked.Add(g.opts.GracePeriod); now.Before(due) {
				g.report(GCEvent{p.UUID, "kept", fmt.Sprintf("pod %s is within its grace period: a gc run after %s removes it", p.UUID, timefmt.Text(due))})
				return
			}
		case lifecycle.Garbage:
		default:
			return
		}
		g.remove(p)
	})
}

// sweepWorkers is how many pods a gc removes at once.
var sweepWorkers = 2 * runtime.NumCPU()

type collector struct {
	c    Config
	opts GCOptions
	// report is safe to call from several goroutines.
	report func(GCEvent)
	// mounts is the mount table below the pods folder, read once per run
	// when the first pod is removed.
	mounts     []string
	mountsOnce sync.Once
	// synced is when sweep made the garbage folders durable.
	synced time.Time
	// events records the events of the pods marked, nil once marking
	// is over.
	events *events.Appender
}

func (g *collector) fail(p *lifecycle.Pod, err error) {
	g.report(GCEvent{p.UUID, "error", err.Error()})
}

// killLeftovers kills what is left in an exited pod's cgroups, then marks
// it: a stage1 killed with SIGKILL leaves the processes its apps started in
// the background (fly has no PID namespace to take them), and no process of
// a pod that reads exited may run on until the grace period is over. Under
// the pod's lock: no stage1 runs it.
func (g *collector) killLeftovers(p *lifecycle.Pod) error {
	f, err := flavors.ForPod(p)
	if err == nil {
		err = f.KillLeftovers(p)
	}
	if err != nil {
		g.fail(p, err)
	}
	// What a stage1 killed before it could release its networks held;
	// a flavor that joins none (fly) holds none. The flavor is the one
	// stage0 recorded, which no app can write.
	if _, none := f.(stage1.NetworkLess); !none {
		if err := releasePodNetworks(g.c.DataDir, p.UUID); err != nil {
			g.fail(p, err)
		}
	}
	return p.ToExitedGarbage()
}

// mark locks the pod and moves it. A pod that is busy, or gone because
// another gc took it, is left to whoever has it. A pod the walk passed
// locked is left locked: the walk's closing of it releases the lock,
// one call less a pod.
func (g *collector) mark(p *lifecycle.Pod, move func(*lifecycle.Pod) error, msg string) {
	if !p.Locked() {
		if err := p.TryExclusiveLock(); err != nil {
			if !errors.Is(err, lifecycle.ErrBusy) && !errors.Is(err, fs.ErrNotExist) {
				g.fail(p, err)
			}
			return
		}
		defer p.Unlock()
	}
	if err := move(p); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			g.fail(p, err)
		}
		return
	}
	g.report(GCEvent{p.UUID, "marked", msg})
}

// remove locks a pod marked for collection, lets its flavor undo what it
// left (mounts, processes, cgroups), detaches any mount still below it and
// deletes it.
func (g *collector) remove(p *lifecycle.Pod) {
	if err := p.TryExclusiveLock(); err != nil {
		if !errors.Is(err, lifecycle.ErrBusy) && !errors.Is(err, fs.ErrNotExist) {
			g.fail(p, err)
		}
		return
	}
	if err := removePod(p, g.mountsBelow, g.synced); err != nil {
		g.fail(p, err)
		return
	}
	g.report(GCEvent{p.UUID, "removed", fmt.Sprintf("removed pod %s", p.UUID)})
}

func (g *collector) mountsBelow(dir string) []string {
	g.mountsOnce.Do(func() {
		var err error
		g.mounts, err = lifecycle.MountPointsUnder(datadir.PodsDir(g.c.DataDir))
		if err != nil {
			g.report(GCEvent{"", "error", err.Error()})
		}
	})
	var out []string
	for _, m := range g.mounts {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// removePod deletes a pod its caller holds locked in garbage/ or
// exited-garbage/, then frees its name. mounts lists the mount points
// still below a folder; synced is when the caller made the garbage folders
// durable (lifecycle.SyncGarbageFolders), or zero.
func removePod(p *lifecycle.Pod, mounts func(dir string) []string, synced time.Time) error {
	// Read now: the manifest goes with the pod.
	name := nameToRelease(p)
	if f, err := flavorFor(p); err == nil {
		if err := f.GC(p); err != nil {
			return fmt.Errorf("stage1 gc of pod %s: %w", p.UUID, err)
		}
	} else if name, _ := p.Flavor(); name != "" {
		return err
	}
	// What a stage1 killed before its end still held.
	if err := releasePodNetworks(p.DataDir(), p.UUID); err != nil {
		return err
	}
	// Deepest first, detached: a leftover mount must not keep the pod.
	ms := mounts(p.Path())
	sort.Sort(sort.Reverse(sort.StringSlice(ms)))
	for _, m := range ms {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("unmounting %s: %w", m, err)
		}
	}
	if err := p.RemoveSynced(synced); err != nil {
		return err
	}
	// After the pod is gone, so that the name is never free while its pod
	// is still there; a crash in between leaves a stale entry, which is
	// free all the same.
	return releaseName(p.DataDir(), name, p.UUID)
}

// nameToRelease is the name a pod holds in the names index. A pod whose
// manifest no longer parses still frees its name: the name is then read
// from the annotations alone, and used only if it is a valid name.
func nameToRelease(p *lifecycle.Pod) string {
	if name := readPodName(p); name != "" {
		return name
	}
	b, err := p.ReadFile(lifecycle.FileManifest)
	if err != nil {
		return ""
	}
	if name := lifecycle.NameFromManifest(b); CheckPodName(name) == nil {
		return name
	}
	return ""
}
