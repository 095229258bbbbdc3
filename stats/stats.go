// Package stats measures what a pod and its apps use (CPU, memory,
// processes, block I/O) from their cgroups, and keeps a bounded history of
// it in the pod.
//
// While a pod runs, its stage1 process records a sample every interval
// (Record) into a file of the pod, one JSON object a line:
//
//	<pod>/stage1/stats    {"time":...,"span_ns":...,"pod":{...},"apps":[{"name":...},...]}\n
//
// The file never holds more than MaxSamples samples, whatever the pod's run
// time: when it is full, adjacent pairs are averaged into one sample (which
// stands for twice the time, Span) and the file is replaced whole, and the
// interval doubles, so the samples stay evenly spread over the whole run.
// Readers (podctl stats --history) take the file as it is, skip a line
// torn by a crash, and down-sample it by averaging (Decimate).
package stats

import (
	"encoding/json"
	"slices"
	"time"

	"podctl/cgroup"
)

// Usage is what a pod or one of its apps used at one time: the cgroup's
// counters, and the CPU used over the time before the reading.
type Usage struct {
	cgroup.Usage
	// CPUPercent is the CPU time used since the reading before, in
	// percent of one core (200 is two cores busy); nil when there is no
	// reading before to compare with.
	CPUPercent *float64 `json:"cpu_percent"`
}

// AppUsage is the usage of one app.
type AppUsage struct {
	Name string `json:"name"`
	Usage
}

// Sample is one reading of a pod's usage.
type Sample struct {
	Time time.Time `json:"time"`
	// Span is the stretch of the pod's run the sample stands for: the
	// interval it was recorded at, or the sum of those averaged into it.
	Span time.Duration `json:"span_ns"`
	Pod  Usage         `json:"pod"`
	// Apps are the apps whose cgroups could be read, in the manifest's
	// order.
	Apps []AppUsage `json:"apps"`
}

// Reader takes successive readings of one pod's usage, each with the CPU
// it used since the one before. The zero Reader is ready to use.
type Reader struct {
	prevTime time.Time
	prevPod  *uint64
	prevApps map[string]uint64
	// pod and apps remember where each measure is read from, for the
	// pod's folders (podDirs) and each app's, once found: a recorder
	// reads them every few seconds for the pod's whole life.
	podDirs []string
	pod     *cgroup.UsageReader
	apps    map[string]*cgroup.UsageReader
}

// usage reads the pod's usage, and app's if app is not "".
func (r *Reader) usage(dirs []string, app string) cgroup.Usage {
	// r.pod nil: the first read, of no folders too (nil equals nil).
	if r.pod == nil || !slices.Equal(dirs, r.podDirs) {
		r.podDirs = slices.Clone(dirs)
		r.pod, r.apps = cgroup.NewUsageReader(dirs), map[string]*cgroup.UsageReader{}
	}
	if app == "" {
		return r.pod.Read()
	}
	ur := r.apps[app]
	if ur == nil {
		appDirs := cgroup.AppDirs(dirs, app)
		if len(appDirs) == 0 {
			// Not made yet, or gone: looked for again next time.
			return cgroup.Usage{}
		}
		ur = cgroup.NewUsageReader(appDirs)
		r.apps[app] = ur
	}
	u := ur.Read()
	if u.Has == 0 {
		// Its folders went (an app removed, or restarted into new ones).
		delete(r.apps, app)
	}
	return u
}

// Read reads the usage of the pod whose cgroup folders are dirs (as
// recorded in the pod, stage1.PodCgroupDirs) and of its apps, at now. ok is
// false when nothing could be read: the pod's cgroups are gone.
func (r *Reader) Read(dirs, apps []string, now time.Time) (s Sample, ok bool) {
	s = Sample{Time: now, Apps: []AppUsage{}}
	s.Pod.Usage = r.usage(dirs, "")
	if s.Pod.Has == 0 {
		return s, false
	}
	elapsed := now.Sub(r.prevTime)
	percent := func(cur uint64, prev *uint64) *float64 {
		if prev == nil || cur < *prev || elapsed <= 0 {
			return nil
		}
		p := float64(cur-*prev) / float64(elapsed.Nanoseconds()) * 100
		return &p
	}
	if s.Pod.Has&cgroup.HasCPU != 0 {
		s.Pod.CPUPercent = percent(s.Pod.CPUNanos, r.prevPod)
	}
	prevApps := r.prevApps
	r.prevApps = map[string]uint64{}
	for _, name := range apps {
		u := r.usage(dirs, name)
		if u.Has == 0 {
			continue
		}
		a := AppUsage{Name: name, Usage: Usage{Usage: u}}
		if u.Has&cgroup.HasCPU != 0 {
			if prev, seen := prevApps[name]; seen {
				a.CPUPercent = percent(u.CPUNanos, &prev)
			}
			r.prevApps[name] = u.CPUNanos
		}
		s.Apps = append(s.Apps, a)
	}
	r.prevTime = now
	r.prevPod = nil
	if s.Pod.Has&cgroup.HasCPU != 0 {
		v := s.Pod.CPUNanos
		r.prevPod = &v
	}
	return s, true
}

// ParseAppNames reads the names of the apps of a pod manifest.
func ParseAppNames(manifest []byte) ([]string, error) {
	var m struct {
		Apps []struct {
			Name string `json:"name"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	var names []string
	for _, a := range m.Apps {
		names = append(names, a.Name)
	}
	return names, nil
}
