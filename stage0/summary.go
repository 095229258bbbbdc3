package stage0

import (
	"time"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage1"
)

// What list and status show of an exited pod is read from its files once
// and kept in the pod's summary (lifecycle.Pod.Summary), so that listing
// thousands of exited pods reads one small file of each instead of five
// and parses no manifest. The summary holds only what cannot change once
// the pod has exited; what can (its state, its gc mark time, how its pod
// file compares now) is read afresh every time.

// podSummary is the data podctl keeps in a pod's summary: PodInfo's facts
// that an exited pod keeps for good.
type podSummary struct {
	Name         string               `json:"name"`
	Labels       map[string]string    `json:"labels"`
	Annotations  map[string]string    `json:"annotations"`
	Result       *lifecycle.PodResult `json:"result"`
	Flavor       string               `json:"stage1"`
	CreatedAt    *time.Time           `json:"created_at"`
	StartedAt    *time.Time           `json:"started_at"`
	Networks     []network.Attachment `json:"networks"`
	PrivateUsers *stage1.PrivateUsers `json:"private_users"`
	Apps         []summaryApp         `json:"apps"`
	Source       *SourceInfo          `json:"source"`
	// Mutable: a running mutable pod's app that has not started is
	// created, not running.
	Mutable bool `json:"mutable,omitempty"`
	// Pid and CgroupRecord are a running pod's, in its running summary
	// only: its stage1's pid and its cgroup record as read, unchecked.
	Pid          int    `json:"pid,omitempty"`
	CgroupRecord string `json:"cgroup_record,omitempty"`
}

// summaryApp is an app in the summary, with its image's version, which
// AppInfo keeps unexported.
type summaryApp struct {
	AppInfo
	ImageVersion string `json:"image_version"`
}

// Info reads what there is to know of an opened pod without blocking: from
// its summary if it has exited and has a current one, else from its files,
// then caching what it read in a summary if it may.
func Info(p *lifecycle.Pod) *PodInfo { return info(p, nil) }

// info is Info with the cgroup checker c for a running pod's paused
// check, or nil for the host's.
func info(p *lifecycle.Pod, c *cgroup.Checker) *PodInfo {
	if pi := infoFromSummary(p); pi != nil {
		return pi
	}
	if p.State() == lifecycle.Running {
		return runningInfo(p, c)
	}
	pi := readInfo(p)
	if len(pi.Problems) == 0 && p.State() == lifecycle.Exited {
		// The summary is a cache: a pod without one (a read-only data
		// directory, a full disk) is shown all the same, read from its
		// files, and the next reader tries again.
		_ = p.WriteSummary(summaryOf(pi))
	}
	return pi
}

// runningInfo is Info of a running pod: what its manifest says from its
// running summary if it has a current one, else from the manifest (then
// kept in a summary), and what its stage1 and apps record now from their
// files. c checks its cgroup record (nil: the host's checker).
func runningInfo(p *lifecycle.Pod, c *cgroup.Checker) *PodInfo {
	if data, ok := p.RunningSummary(); ok {
		if s, err := decodeSummary(data); err == nil {
			return infoFromRunningSummary(p, s, c)
		}
	}
	// Taken before the manifest is read: a manifest replaced meanwhile
	// (podctl app add) leaves a summary that reads as stale.
	key, err := p.RunningSummaryKey()
	pi := readInfo(p)
	if err == nil && len(pi.Problems) == 0 && pi.State.Lifecycle == lifecycle.Running {
		if data := runningSummaryOf(pi); data != nil {
			// A cache, as WriteSummary's.
			_ = p.WriteRunningSummary(key, data)
		}
	}
	return pi
}

// runningSummaryOf is a running pod's summary data for pi: what its
// manifest and its creation say (summaryOf), and what its stage1 wrote
// once as it started (its start time, pid, networks and cgroup record,
// which the summary's key names); nothing of its apps, which change
// while it runs.
func runningSummaryOf(pi *PodInfo) []byte {
	fixed := *pi
	fixed.Result = nil
	fixed.Apps = make([]AppInfo, len(pi.Apps))
	for i, a := range pi.Apps {
		fixed.Apps[i] = AppInfo{Name: a.Name, ImageName: a.ImageName, ImageID: a.ImageID, imageVersion: a.imageVersion}
	}
	return summaryOf(&fixed)
}

// infoFromRunningSummary is a running pod's PodInfo from its running
// summary s and what its files say now, as readInfo reads them.
func infoFromRunningSummary(p *lifecycle.Pod, s *podSummary, c *cgroup.Checker) *PodInfo {
	pi := infoOf(p, s)
	problem := func(err error) {
		if err != nil {
			pi.Problems = append(pi.Problems, err.Error())
		}
	}
	pi.Pid, pi.cgroupRecord = s.Pid, s.CgroupRecord
	setCondition(c, p, pi)
	for i := range pi.Apps {
		pi.Apps[i].State = appState(p.State())
		problem(readAppState(p, s.Flavor, s.Mutable, &pi.Apps[i]))
	}
	return pi
}

// summaryOf is the summary's data for pi; nil if it cannot be encoded.
func summaryOf(pi *PodInfo) []byte {
	s := podSummary{Name: pi.Name, Labels: pi.Labels, Annotations: pi.Annotations, Result: pi.Result, Flavor: pi.Flavor,
		CreatedAt: pi.CreatedAt, StartedAt: pi.StartedAt, Networks: pi.Networks, PrivateUsers: pi.PrivateUsers, Source: pi.Source,
		Mutable: pi.mutable, Pid: pi.Pid, CgroupRecord: pi.cgroupRecord}
	for _, a := range pi.Apps {
		s.Apps = append(s.Apps, summaryApp{a, a.imageVersion})
	}
	b, err := encodeSummary(&s)
	if err != nil {
		return nil
	}
	return b
}

// infoFromSummary is the pod's PodInfo from its summary, or nil if it has
// no current one.
func infoFromSummary(p *lifecycle.Pod) *PodInfo {
	data, ok := p.Summary()
	if !ok {
		return nil
	}
	s, err := decodeSummary(data)
	if err != nil {
		return nil
	}
	pi := infoOf(p, s)
	// Facts that change after the pod's end, read afresh.
	pi.GCMarkedAt = timePtr(p.GCMarkedTime())
	return pi
}

// infoOf is the PodInfo that summary s of pod p holds, with the source's
// match to its file worked out afresh.
func infoOf(p *lifecycle.Pod, s *podSummary) *PodInfo {
	pi := &PodInfo{UUID: p.UUID, State: PodState{Lifecycle: p.State()}, Name: s.Name, Labels: s.Labels, Annotations: s.Annotations,
		Result: s.Result, Flavor: s.Flavor, CreatedAt: s.CreatedAt, StartedAt: s.StartedAt, Networks: s.Networks,
		PrivateUsers: s.PrivateUsers, Source: s.Source, Apps: make([]AppInfo, 0, len(s.Apps)), mutable: s.Mutable}
	if pi.Labels == nil {
		pi.Labels = map[string]string{}
	}
	if pi.Annotations == nil {
		pi.Annotations = map[string]string{}
	}
	if pi.Networks == nil {
		pi.Networks = []network.Attachment{}
	}
	for _, a := range s.Apps {
		a.AppInfo.imageVersion = a.ImageVersion
		pi.Apps = append(pi.Apps, a.AppInfo)
	}
	if pi.Source != nil {
		pi.Source.Match = sourceMatch(pi.Source.File, pi.Source.Digest)
	}
	return pi
}
