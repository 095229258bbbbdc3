package stage0

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stats"
)

// PodStats is one reading of a running pod's usage, as podctl stats shows
// it: the pod's whole (its stage1's helpers in the pod's cgroups included)
// and each app's.
type PodStats struct {
	UUID string `json:"uuid"`
	stats.Sample
}

// StatsOptions are how Stats reads.
type StatsOptions struct {
	// Interval is the time between readings, over which CPU percentages
	// are measured.
	Interval time.Duration
	// Stream keeps reading every interval until ctx ends; without it, the
	// reading one interval after the first is the only one reported.
	Stream bool
}

// Stats reads the usage of the running pods ids (every running pod if
// none), first at once, then every interval, and calls report with the
// readings of them all after each interval. Without Stream it reports once.
// Streaming, it ends when ctx does, when report fails, or when none of the
// pods named still runs; pods started meanwhile join when none is named.
func Stats(ctx context.Context, c Config, ids []string, opts StatsOptions, report func([]*PodStats) error) error {
	if opts.Interval <= 0 {
		return errdefs.New(ErrUsage, "the interval between readings must be more than 0")
	}
	var named []string
	for _, id := range ids {
		p, err := c.OpenPod(id)
		if err != nil {
			return err
		}
		state := p.State()
		p.Close()
		if state.IsAfterRun() {
			return errdefs.New(ErrUsage, "pod %s is %s, not running: see what it used with podctl stats --history %s", p.UUID, state, p.UUID)
		}
		if state != lifecycle.Running {
			return errdefs.New(ErrUsage, "pod %s is %s, not running: it has no usage yet", p.UUID, state)
		}
		named = append(named, p.UUID)
	}
	readers := map[string]*stats.Reader{}
	first := true
	for {
		var out []*PodStats
		err := runningPods(c, named, func(p *lifecycle.Pod) {
			dirs, err := stage1.PodCgroupDirs(p)
			if err != nil || len(dirs) == 0 {
				// Just started: its stage1 has not made its cgroups yet.
				return
			}
			var apps []string
			if b, _, err := p.PodManifest(); err == nil {
				apps, _ = stats.ParseAppNames(b)
			}
			r := readers[p.UUID]
			if r == nil {
				r = &stats.Reader{}
				readers[p.UUID] = r
			}
			if s, ok := r.Read(dirs, apps, time.Now()); ok {
				s.Span = opts.Interval
				out = append(out, &PodStats{UUID: p.UUID, Sample: s})
			}
		})
		if err != nil {
			return err
		}
		if !first {
			if out == nil {
				out = []*PodStats{}
			}
			if err := report(out); err != nil {
				return err
			}
			if !opts.Stream || (len(named) > 0 && len(out) == 0) {
				return nil
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.Interval):
		}
	}
}

// runningPods calls f for each of the pods named that still runs, in the
// order given, or for every running pod if none is named.
func runningPods(c Config, named []string, f func(*lifecycle.Pod)) error {
	if len(named) == 0 {
		err := lifecycle.WalkPods(c.DataDir, lifecycle.IncludeRunDir, func(p *lifecycle.Pod) {
			// A pod of a layout this podctl does not know is left out,
			// as OpenPod refuses it when named.
			if p.State() == lifecycle.Running && p.CheckLayout() == nil {
				f(p)
			}
		})
		if errors.Is(err, fs.ErrNotExist) {
			// No data directory: no pod.
			return nil
		}
		return err
	}
	for _, id := range named {
		p, err := c.OpenPod(id)
		if err != nil {
			// Removed meanwhile: it runs no more.
			continue
		}
		if p.State() == lifecycle.Running {
			f(p)
		}
		p.Close()
	}
	return nil
}

// PodHistory is what a pod's stage1 recorded of its usage, down-sampled.
type PodHistory struct {
	UUID  string          `json:"uuid"`
	State lifecycle.State `json:"state"`
	// Recorded is how many samples the pod holds; Samples are those
	// averaged down to the points asked for.
	Recorded int            `json:"recorded"`
	Samples  []stats.Sample `json:"samples"`
}

// StatsHistory returns the usage a pod's stage1 recorded while it ran (or
// so far, if it runs), averaged down to at most points samples.
func StatsHistory(c Config, id string, points int) (*PodHistory, error) {
	if points < 1 {
		return nil, errdefs.New(ErrUsage, "--points must be 1 or more, not %d", points)
	}
	p, err := c.OpenPod(id)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	h := &PodHistory{UUID: p.UUID, State: p.State(), Samples: []stats.Sample{}}
	b, err := p.ReadFile(lifecycle.FileStats)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading usage history of pod %s: %w", p.UUID, err)
		}
		switch p.State() {
		case lifecycle.Running:
			// Its first sample is a moment away.
			return h, nil
		case lifecycle.Embryo, lifecycle.Preparing, lifecycle.Prepared:
			return nil, errdefs.New(ErrUsage, "pod %s is %s: it has not run, so it has no usage history", p.UUID, p.State())
		}
		return nil, fmt.Errorf("pod %s recorded no usage history: its stage1 ended before its first sample, or predates podctl stats", p.UUID)
	}
	all := stats.Parse(b)
	h.Recorded = len(all)
	h.Samples = stats.Decimate(all, points)
	if h.Samples == nil {
		h.Samples = []stats.Sample{}
	}
	return h, nil
}
