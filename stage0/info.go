package stage0

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage1"

	"github.com/appc/spec/schema"
)

// PodState is a pod's state as list and status show it: its lifecycle
// state, or for a running pod the condition podctl adds to it.
type PodState struct {
	Lifecycle lifecycle.State
	// Condition is a running pod's: paused while frozen (podctl pause),
	// terminating while podctl stop waits for it.
	Condition Condition
}

// Condition is what a running pod is doing besides running.
type Condition int

// The conditions of a running pod that list and status show as its state.
const (
	NoCondition Condition = iota
	Paused
	Terminating
)

// The names of the conditions, as list and status show them.
const (
	statePaused      = "paused"
	stateTerminating = "terminating"
)

// String is the state's name: the condition's, if any, else the lifecycle
// state's.
func (s PodState) String() string {
	switch s.Condition {
	case Paused:
		return statePaused
	case Terminating:
		return stateTerminating
	}
	return s.Lifecycle.String()
}

// MarshalText makes a PodState its name in JSON.
func (s PodState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// PodInfo is what list and status show of a pod. Times are nil when the
// pod has not reached them.
type PodInfo struct {
	UUID string `json:"uuid"`
	// Name is the pod's name (--name), or "".
	Name string `json:"name"`
	// Labels and Annotations are the user's (--label, --annotation).
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// State is the pod's state; JSON has its name.
	State PodState `json:"state"`
	// Result is how a finished pod ended, once it has run.
	Result *lifecycle.PodResult `json:"result"`
	// History is every state the pod went through, with its time; status
	// shows it, list does not read it.
	History    []lifecycle.StateChange `json:"history,omitempty"`
	Flavor     string                  `json:"stage1,omitempty"`
	CreatedAt  *time.Time              `json:"created_at"`
	StartedAt  *time.Time              `json:"started_at"`
	GCMarkedAt *time.Time              `json:"gc_marked_at"`
	Pid        int                     `json:"pid"`
	// Networks are the networks the running pod joined.
	Networks []network.Attachment `json:"networks"`
	// PrivateUsers is the host range the pod's ids map to
	// (--private-users), nil if it shares the host's.
	PrivateUsers *stage1.PrivateUsers `json:"private_users"`
	Apps         []AppInfo            `json:"apps"`
	// Source is the pod file podctl apply made the pod from, nil if none.
	Source *SourceInfo `json:"source,omitempty"`
	// Problems are what could not be read; the rest is still shown.
	Problems []string `json:"problems,omitempty"`

	// mutable is set for a pod whose manifest says it is mutable, for a
	// running pod's summary.
	mutable bool
	// cgroupRecord is a running pod's cgroup record as read, unchecked,
	// for its running summary.
	cgroupRecord string
}

// AppInfo is one app of a pod, as list and status show it.
type AppInfo struct {
	Name       string     `json:"name"`
	ImageName  string     `json:"image_name"`
	ImageID    string     `json:"image_id"`
	State      string     `json:"state"`
	ExitCode   *int       `json:"exit_code"`
	Signal     string     `json:"signal,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Message    string     `json:"message,omitempty"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// RestartCount is how many times the app was restarted (--restart).
	RestartCount int `json:"restart_count"`

	// imageVersion is the image's version label, for the image filter.
	imageVersion string
}

// appRun is what an app's files say of its current run: whether it has a
// pid file (fly, native), and when its main process started, the pid
// file's time or else the time in its start record (the systemd flavor's
// apps/<name>/started); zero if neither says. The pid file is stat'ed,
// not read: only its being there counts. The flavors that write pid
// files (fly, native) write no start record, which is not looked for.
func appRun(p *lifecycle.Pod, flavor, app string) (hasPid bool, at time.Time) {
	if t, err := p.AppStartTime(app); err == nil && !t.IsZero() {
		return true, t
	}
	if flavor == "fly" || flavor == "native" {
		return false, time.Time{}
	}
	b, err := p.ReadFile(filepath.Join(lifecycle.AppDir(app), lifecycle.AppStarted))
	if err != nil {
		return false, time.Time{}
	}
	var rec struct {
		StartedAt time.Time `json:"started_at"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return false, time.Time{}
	}
	return false, rec.StartedAt
}

// timePtr is t for JSON, or nil if unknown. A file time outside the years
// JSON's time format can hold (some file systems store any 64-bit time)
// would fail the encoding of every pod listed with it: it is left out.
func timePtr(t time.Time, err error) *time.Time {
	if err != nil || t.IsZero() || t.Year() < 0 || t.Year() > 9999 {
		return nil
	}
	return &t
}

// readInfo reads what there is to know of an opened pod from its files,
// without blocking.
func readInfo(p *lifecycle.Pod) *PodInfo {
	pi := &PodInfo{UUID: p.UUID, State: PodState{Lifecycle: p.State()}, Apps: []AppInfo{}, Networks: []network.Attachment{},
		Labels: map[string]string{}, Annotations: map[string]string{}}
	problem := func(err error) {
		if err != nil {
			pi.Problems = append(pi.Problems, err.Error())
		}
	}
	pi.CreatedAt = timePtr(p.CreationTime())
	if err := p.CheckLayout(); err != nil {
		// Its files are in a layout this podctl does not know: the
		// state (from its folder and lock) is all that is shown.
		problem(err)
		return pi
	}
	pi.StartedAt = timePtr(p.StartTime())
	pi.GCMarkedAt = timePtr(p.GCMarkedTime())
	var err error
	pi.Flavor, err = p.Flavor()
	problem(err)
	if p.State() == lifecycle.Running {
		readRunning(p, pi, problem)
	}
	pi.Result, err = p.Result()
	problem(err)
	_, m, err := p.PodManifest()
	if err != nil {
		// A pod being prepared has no manifest yet; that is no problem.
		if !errors.Is(err, fs.ErrNotExist) {
			problem(err)
		}
		return pi
	}
	pi.Name = podNameOf(m)
	pi.mutable = lifecycle.IsMutable(m)
	pi.Source = readSource(m)
	pi.PrivateUsers, err = stage1.ReadPrivateUsers(m)
	problem(err)
	for k, v := range m.UserLabels {
		pi.Labels[k] = v
	}
	for k, v := range m.UserAnnotations {
		pi.Annotations[k] = v
	}
	for _, ra := range m.Apps {
		ai, err := appInfo(p, pi.Flavor, pi.mutable, ra)
		problem(err)
		pi.Apps = append(pi.Apps, ai)
	}
	return pi
}

// readRunning reads what a running pod's stage1 says now: its pid, its
// networks, its cgroup record, and whether it is terminating or paused.
func readRunning(p *lifecycle.Pod, pi *PodInfo, problem func(error)) {
	var err error
	pi.Pid, err = p.Pid()
	problem(err)
	problem(readNetworks(p, &pi.Networks))
	pi.cgroupRecord, err = stage1.CgroupRecord(p)
	problem(err)
	setCondition(nil, p, pi)
}

// setCondition sets a running pod's condition: terminating, or paused
// (its recorded freezer folders, checked by c or the host's checker if
// nil, say so), or none.
func setCondition(c *cgroup.Checker, p *lifecycle.Pod, pi *PodInfo) {
	if _, ok := terminatingUntil(p); ok {
		pi.State.Condition = Terminating
	} else if isPausedRecord(c, p, pi.cgroupRecord) {
		pi.State.Condition = Paused
	}
}

// appInfo is what there is to know of app ra of pod p, mutable or not,
// and what of it could not be read.
func appInfo(p *lifecycle.Pod, flavor string, mutable bool, ra schema.RuntimeApp) (AppInfo, error) {
	ai := AppInfo{Name: ra.Name.String(), ImageID: ra.Image.ID.String(), State: appState(p.State())}
	if ra.Image.Name != nil {
		ai.ImageName = ra.Image.Name.String()
	}
	ai.imageVersion, _ = ra.Image.Labels.Get("version")
	err := readAppState(p, flavor, mutable, &ai)
	return ai, err
}

// readAppState reads what app ai of pod p (of this flavor, mutable or
// not) records of its runs into ai, whose name, image and state
// (appState) are set.
func readAppState(p *lifecycle.Pod, flavor string, mutable bool, ai *AppInfo) error {
	var problem error
	if p.State() == lifecycle.Running {
		// The count of a finished app is in its status; a running
		// one's only here.
		if b, err := p.ReadFile(lifecycle.AppRestartsFile(ai.Name)); err == nil {
			ai.RestartCount, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	// What the app's pid file or start record say, read once when
	// first needed.
	var (
		runRead bool
		hasPid  bool
		at      time.Time
	)
	run := func() (bool, time.Time) {
		if !runRead {
			hasPid, at = appRun(p, flavor, ai.Name)
			runRead = true
		}
		return hasPid, at
	}
	// startedSince reports whether the app has been started (again)
	// since t: it has a pid, or its start record is newer.
	startedSince := func(t time.Time) bool {
		pid, at := run()
		return pid || at.After(t)
	}
	if st, err := p.AppStatus(ai.Name); err == nil {
		ai.State = "exited"
		if p.State() == lifecycle.Running && startedSince(st.FinishedAt) {
			// Running again, restarted: the status is its last run's.
			ai.State = "running"
		}
		ai.RestartCount = max(ai.RestartCount, st.RestartCount)
		ai.ExitCode = &st.ExitCode
		ai.Signal, ai.Reason, ai.Message = st.Signal, st.Reason, st.Message
		ai.StartedAt = timePtr(st.StartedAt, nil)
		ai.FinishedAt = timePtr(st.FinishedAt, nil)
	} else if !errors.Is(err, fs.ErrNotExist) {
		problem = err
	} else if p.State() == lifecycle.Running && mutable && !startedSince(time.Time{}) {
		// Added to a mutable pod, and not started yet.
		ai.State = "created"
	}
	if ai.State == "running" && ai.FinishedAt == nil {
		_, at := run()
		ai.StartedAt = timePtr(at, nil)
	}
	return problem
}

// readNetworks reads the networks a running pod's stage1 recorded. It is
// shown, never acted on: gc releases networks from CNI's cache.
func readNetworks(p *lifecycle.Pod, out *[]network.Attachment) error {
	b, err := p.ReadFile(lifecycle.FileNetworks)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var atts []network.Attachment
	if err := json.Unmarshal(b, &atts); err != nil {
		return fmt.Errorf("pod %s: %s: %w", p.UUID, lifecycle.FileNetworks, err)
	}
	*out = atts
	return nil
}

// appState is an app's state when it has recorded no exit status.
func appState(s lifecycle.State) string {
	switch s {
	case lifecycle.Embryo, lifecycle.Preparing, lifecycle.Prepared:
		return "created"
	case lifecycle.Running:
		return "running"
	}
	// Exited without a status: its stage1 died before it could say.
	return "unknown"
}

// List returns every pod not yet removed, exited-garbage pods included.
func List(c Config) ([]*PodInfo, error) {
	// A list keeps every pod it reads: collecting garbage as often as
	// usual while the heap only grows costs a sixth of its CPU time. The
	// memory limit brings the collector back on a huge list.
	if limit := debug.SetMemoryLimit(-1); limit > 512<<20 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(512 << 20))
	}
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	// Reading a pod is a few dozen system calls: spread them over the CPUs,
	// keeping the walk's order.
	var mu sync.Mutex
	found := map[int]*PodInfo{}
	// One checker of the cgroup mounts for every running pod's paused
	// check; if it cannot be had, each check tries again (and fails).
	checker, _ := stage1.HostChecker()
	err := lifecycle.WalkPodsReading(c.DataDir, lifecycle.IncludeMostDirs|lifecycle.IncludeGarbageDir, func(i int, p *lifecycle.Pod) {
		pi := info(p, checker)
		mu.Lock()
		found[i] = pi
		mu.Unlock()
	})
	order := make([]int, 0, len(found))
	for i := range found {
		order = append(order, i)
	}
	sort.Ints(order)
	out := make([]*PodInfo, 0, len(order))
	for _, i := range order {
		out = append(out, found[i])
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("data directory %s cannot be read (%v): run podctl as root", c.DataDir, err)
	}
	return out, err
}

// Status returns what there is to know of one pod. A pod whose layout
// this podctl does not know is shown with its state, and the reason as
// its problem.
func Status(c Config, id string) (*PodInfo, error) {
	p, err := c.findPod(id)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	pi := Info(p)
	if p.CheckLayout() != nil {
		return pi, nil
	}
	// Only here: list reads thousands of pods, and shows no history.
	var err2 error
	if pi.History, err2 = p.History(); err2 != nil {
		pi.Problems = append(pi.Problems, err2.Error())
	}
	return pi, nil
}
