package kit

import (
	"fmt"
	"syscall"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/events"
	"podctl/internal/flock"
	"podctl/lifecycle"
	"podctl/stage1"
)

// AppRequest is one app verb for a mutable pod's Supervisor (its
// Control channel): stage1 has checked it and, for stage1.AppAdd, made
// the app's Spec, cgroups included.
type AppRequest struct {
	Op  stage1.AppOp `json:"op"`
	App string       `json:"app"`
	// Spec is the app to add (stage1.AppAdd).
	Spec *AppSpec `json:"spec,omitempty"`
	// Reply gets the outcome once: nil, or the one line saying why not.
	// It must have room for it: the Supervisor never waits on it.
	Reply chan<- error `json:"-"`
}

// MutableControllers are the v1 hierarchies a mutable pod's cgroup is
// made in beside those its first apps need: apps added later may have
// limits, and every confined app has a device policy.
func MutableControllers(m *schema.PodManifest) []string {
	if m == nil || !lifecycle.IsMutable(m) {
		return nil
	}
	return []string{"memory", "cpu", "pids", "devices"}
}

// AddedAppSpec makes the confined spec of the app name of a running
// mutable pod, which stage0 has just written into its manifest, as
// AppSpecs and Confine make those of a pod's first apps; the flavor makes
// its cgroups.
func AddedAppSpec(p *lifecycle.Pod, name string) (*AppSpec, error) {
	unlock, err := p.LockManifest(flock.Shared)
	if err != nil {
		return nil, err
	}
	defer unlock()
	_, m, err := p.SandboxManifest()
	if err != nil {
		return nil, err
	}
	ra := m.Apps.Get(types.ACName(name))
	if ra == nil {
		return nil, fmt.Errorf("pod %s has no app %s in its manifest", p.UUID, name)
	}
	one := *m
	one.Apps = schema.AppList{*ra}
	specs, err := AppSpecs(p, &one)
	if err != nil {
		return nil, err
	}
	Confine(specs)
	if err := AssembleFilters(specs); err != nil {
		return nil, err
	}
	return &specs[0], nil
}

// appGen names one run of app index: the gen-th.
type appGen struct{ index, gen int }

// onRequest serves an app verb. A stop or rm of a running app is
// answered once the app has ended (onExit).
func (s *Supervisor) onRequest(r AppRequest) {
	if s.stopReason != "" {
		r.Reply <- fmt.Errorf("pod %s is stopping", s.pod.UUID)
		return
	}
	if r.Op == stage1.AppAdd {
		r.Reply <- s.addApp(r.Spec)
		return
	}
	i, ok := s.find(r.App)
	if !ok {
		r.Reply <- fmt.Errorf("pod %s has no app %q", s.pod.UUID, r.App)
		return
	}
	switch r.Op {
	case stage1.AppStart:
		r.Reply <- s.startApp(i)
	case stage1.AppStop, stage1.AppRemove:
		s.stopApp(i, r.Op == stage1.AppRemove, r.Reply)
	default:
		r.Reply <- fmt.Errorf("stage1 knows no app verb %q", r.Op)
	}
}

// find returns the index of the app called name, if the pod has it.
func (s *Supervisor) find(name string) (int, bool) {
	for i := range s.Specs {
		if s.Specs[i].Name == name && !s.apps[i].removed {
			return i, true
		}
	}
	return 0, false
}

// addApp adds an app to the pod, not started.
func (s *Supervisor) addApp(spec *AppSpec) error {
	if spec == nil {
		return fmt.Errorf("no app to add")
	}
	if _, ok := s.find(spec.Name); ok {
		return fmt.Errorf("pod %s has an app %s already", s.pod.UUID, spec.Name)
	}
	s.Specs = append(s.Specs, *spec)
	s.apps = append(s.apps, appRun{})
	// Added to a pod that was ready, it does not make the pod unready.
	s.ready = append(s.ready, true)
	s.RC.Debugf("app %s added", spec.Name)
	return nil
}

// startApp starts app i, which must not be running. A start that fails
// is recorded as the app's status, and fails the app, not the pod.
func (s *Supervisor) startApp(i int) error {
	a, name := &s.apps[i], s.Specs[i].Name
	if a.running {
		return fmt.Errorf("app %s is running already", name)
	}
	if t, ok := s.timers[i]; ok {
		// Waiting to be restarted: it starts now instead.
		t.Stop()
		delete(s.timers, i)
	}
	if err := s.launch(i); err != nil {
		s.Hooks.Warn(err)
		s.recordStatus(name, &lifecycle.AppStatus{ExitCode: stage1.ExitStartFailed, Reason: lifecycle.ReasonError,
			Message: "the app did not start: " + err.Error(), StartedAt: a.started, FinishedAt: time.Now(), RestartCount: a.restarts})
		return fmt.Errorf("app %s did not start: %w", name, err)
	}
	s.event(events.Event{Type: events.Started, App: name})
	return nil
}

// stopApp ends app i: SIGTERM, then SIGKILL once StopGrace is over. With
// remove, the app is then removed from the pod. reply gets nil once the
// app has ended, at once if it was not running.
func (s *Supervisor) stopApp(i int, remove bool, reply chan<- error) {
	a := &s.apps[i]
	if t, ok := s.timers[i]; ok {
		// No restart of a stopped app.
		t.Stop()
		delete(s.timers, i)
	}
	if !a.running {
		a.removed = a.removed || remove
		reply <- nil
		return
	}
	a.removeOnExit = a.removeOnExit || remove
	a.waiters = append(a.waiters, reply)
	if a.userStopped {
		// Being stopped already: the signals are on their way.
		return
	}
	a.stopped, a.userStopped = true, true
	a.proc.Signal(syscall.SIGTERM)
	k := appGen{i, a.gen}
	time.AfterFunc(s.StopGrace, func() { s.appKills <- k })
}

// onAppKill kills an app that app stop gave SIGTERM and that is still
// running, in the same run, when its grace is over.
func (s *Supervisor) onAppKill(k appGen) {
	if a := &s.apps[k.index]; a.running && a.userStopped && a.gen == k.gen {
		a.proc.Signal(syscall.SIGKILL)
	}
}

// ended answers the app stops waiting for app a, which has just exited,
// and removes it if app rm asked; it reports whether app stop or app rm
// ended it.
func (s *Supervisor) ended(a *appRun) bool {
	for _, w := range a.waiters {
		w <- nil
	}
	a.waiters = nil
	if a.removeOnExit {
		a.removed, a.removeOnExit = true, false
	}
	return a.userStopped
}
