package systemd

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"podctl/cgroup"
	"podctl/internal/flock"
	"podctl/internal/fsutil"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// An app's end is recorded, and the pod ended when it should be, by the
// exit hook its service runs (ExecStopPost). The pod's systemd kills a hook
// that runs past the unit's stop timeout, as it may on a machine loaded
// enough that a program takes seconds to start; nothing would then record
// the app's end or end the pod, which would run on with no app. hookWatch,
// in stage1, notices such an app: its service's cgroup has had no process
// for lostAfter, it had started, and it has no status and no restart
// pending. The hook runs inside that cgroup, so an empty cgroup means the
// hook is over.

// lostAfter is how long an app's service may be empty before its hook is
// taken for lost: the moment between the app's end and the hook's start.
const lostAfter = 5 * time.Second

// hookWatch finds the apps whose exit hook was lost.
type hookWatch struct {
	pod *lifecycle.Pod
	// tracking is the pod's folder in the tracking hierarchy, below which
	// the pod's systemd makes the services' cgroups.
	tracking string
	// empty is when each app's service was first seen empty without a
	// status.
	empty map[string]time.Time
}

// lost returns the apps whose hook has been lost for lostAfter.
func (w *hookWatch) lost(specs []kit.AppSpec, now time.Time) []string {
	var out []string
	for _, s := range specs {
		appDir := w.pod.FilePath(lifecycle.AppDir(s.Name))
		if !exists(filepath.Join(appDir, lifecycle.AppStarted)) || exists(filepath.Join(appDir, lifecycle.AppRestarting)) ||
			exists(w.pod.FilePath(lifecycle.AppStatusFile(s.Name))) || w.running(s.Name) {
			delete(w.empty, s.Name)
			continue
		}
		first, ok := w.empty[s.Name]
		if !ok {
			w.empty[s.Name] = now
			continue
		}
		if now.Sub(first) >= lostAfter {
			out = append(out, s.Name)
		}
	}
	return out
}

// running reports whether app's service cgroup has a process.
func (w *hookWatch) running(app string) bool {
	found := false
	filepath.WalkDir(w.tracking, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != serviceName(app) {
			return nil
		}
		pids, _ := (&cgroup.Group{Dirs: []string{path}}).Procs()
		found = len(pids) > 0
		return filepath.SkipAll
	})
	return found
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// recordLost records the end of an app whose hook was lost, as unknown,
// and makes it the pod's first failure unless an app failed before: the
// pod ends with ExitStartFailed, podctl's own error, since the app's exit
// status is not known.
func recordLost(p *lifecycle.Pod, app string) error {
	st := &lifecycle.AppStatus{
		ExitCode:   stage1.ExitStartFailed,
		Reason:     lifecycle.ReasonError,
		Message:    "its service ended without its exit hook recording how (the pod's systemd stopped the hook at the unit's stop timeout): its exit status is unknown",
		FinishedAt: time.Now(),
	}
	if err := p.WriteAppStatus(app, st); err != nil {
		return err
	}
	// Under the hooks' lock, so that a late hook and this agree on the
	// first failure.
	f, err := os.OpenFile(p.FilePath(lifecycle.FileExitLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := flock.Lock(f, flock.Exclusive); err != nil {
		return err
	}
	if readFirstFailure(p) != "" {
		return nil
	}
	return fsutil.WriteFile(p.FilePath(lifecycle.FileFirstFailure), []byte(strconv.Itoa(stage1.ExitStartFailed)), 0o600, false)
}
