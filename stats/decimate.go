package stats

import (
	"time"

	"podctl/cgroup"
)

// Decimate down-samples in, which must be in time order, to at most max
// samples by averaging runs of adjacent ones: times, counters, memory,
// CPU percents and limits are each the mean of the run's, and the span is
// their sum. With max or fewer samples (or max < 1) it returns in as it is.
//
// Unlike the seed's Decimate, which averages groups of ceil(len/max) and so
// may return far fewer than max points, the samples are cut into exactly
// max runs whose lengths differ by one at most. in is not modified.
func Decimate(in []Sample, max int) []Sample {
	n := len(in)
	if max < 1 || n <= max {
		return in
	}
	out := make([]Sample, 0, max)
	for i := 0; i < max; i++ {
		out = append(out, Average(in[i*n/max:(i+1)*n/max]))
	}
	return out
}

// halve averages adjacent pairs of samples: what the recorder keeps on
// disk when its file is full. An odd last sample stays as it is.
func halve(in []Sample) []Sample {
	out := make([]Sample, 0, (len(in)+1)/2)
	for i := 0; i < len(in); i += 2 {
		out = append(out, Average(in[i:min(i+2, len(in))]))
	}
	return out
}

// Average merges samples into one that stands for all of them: the mean
// time, the summed span, and each measure the mean over the samples that
// have it, weighted by their spans (equal weights if a span is unknown).
// An app appears if any of the samples has it.
func Average(run []Sample) Sample {
	if len(run) == 1 {
		return run[0]
	}
	var out Sample
	if len(run) == 0 {
		return out
	}
	// Offsets from the first time, which cannot overflow as a sum of
	// absolute nanoseconds would.
	var offset float64
	weighted := true
	for _, s := range run {
		offset += float64(s.Time.Sub(run[0].Time))
		out.Span += s.Span
		weighted = weighted && s.Span > 0
	}
	out.Time = run[0].Time.Add(time.Duration(offset / float64(len(run))))
	weight := func(s Sample) float64 {
		if weighted {
			return float64(s.Span)
		}
		return 1
	}
	var pods []weightedUsage
	var names []string
	apps := map[string][]weightedUsage{}
	for _, s := range run {
		pods = append(pods, weightedUsage{s.Pod, weight(s)})
		for _, a := range s.Apps {
			if _, seen := apps[a.Name]; !seen {
				names = append(names, a.Name)
			}
			apps[a.Name] = append(apps[a.Name], weightedUsage{a.Usage, weight(s)})
		}
	}
	out.Pod = averageUsage(pods)
	out.Apps = []AppUsage{}
	for _, name := range names {
		out.Apps = append(out.Apps, AppUsage{Name: name, Usage: averageUsage(apps[name])})
	}
	return out
}

type weightedUsage struct {
	Usage
	w float64
}

// averageUsage averages each measure over the usages that have it.
func averageUsage(us []weightedUsage) Usage {
	var out Usage
	mean := func(bit cgroup.Has, fields ...func(*cgroup.Usage) *uint64) {
		sums := make([]float64, len(fields))
		var total float64
		for i := range us {
			if us[i].Has&bit == 0 {
				continue
			}
			total += us[i].w
			for j, f := range fields {
				sums[j] += us[i].w * float64(*f(&us[i].Usage.Usage))
			}
		}
		if total == 0 {
			return
		}
		out.Has |= bit
		for j, f := range fields {
			*f(&out.Usage) = uint64(sums[j]/total + 0.5)
		}
	}
	mean(cgroup.HasCPU, func(u *cgroup.Usage) *uint64 { return &u.CPUNanos })
	mean(cgroup.HasMemory, func(u *cgroup.Usage) *uint64 { return &u.MemoryBytes })
	mean(cgroup.HasMemoryLimit, func(u *cgroup.Usage) *uint64 { return &u.MemoryLimitBytes })
	mean(cgroup.HasPids, func(u *cgroup.Usage) *uint64 { return &u.Pids })
	mean(cgroup.HasIO, func(u *cgroup.Usage) *uint64 { return &u.ReadBytes }, func(u *cgroup.Usage) *uint64 { return &u.WriteBytes })
	var sum, total float64
	for _, u := range us {
		if u.CPUPercent != nil {
			sum += u.w * *u.CPUPercent
			total += u.w
		}
	}
	if total > 0 {
		p := sum / total
		out.CPUPercent = &p
	}
	return out
}
