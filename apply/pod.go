package apply

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"podctl/datadir"
	"podctl/events"
	"podctl/internal/flock"
	"podctl/lifecycle"
	"podctl/podfile"
	"podctl/stage0"
)

// lockName takes the apply lock of a pod name, waiting for another apply
// that holds it. The caller calls the function returned to unlock.
func (r *run) lockName(name string) (func(), error) {
	dir := filepath.Join(r.c.DataDir, datadir.ApplyDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the apply lock of pod %s: %w", name, err)
	}
	if err := flock.Lock(f, flock.Exclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking pod name %s: %w", name, err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}

// current is the pod that holds a name, nil if none.
func (r *run) current(name string) (*stage0.PodInfo, error) {
	p, err := r.c.OpenPod(name)
	if errors.Is(err, lifecycle.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return stage0.Info(p), nil
}

// applyOne makes the pod of one file match it, under its name's lock.
func (r *run) applyOne(pl *plan) Action {
	a := Action{Name: pl.pod.Name, File: pl.pod.File}
	if !r.opts.DryRun {
		unlock, err := r.lockName(pl.pod.Name)
		if err != nil {
			return r.fail(a, err)
		}
		defer unlock()
	}
	cur, err := r.current(pl.pod.Name)
	if err != nil {
		return r.fail(a, fmt.Errorf("%s: %w", pl.pod.File, err))
	}
	if cur == nil {
		a.Do, a.Reason = DoStart, "no pod is named "+pl.pod.Name
		if r.opts.DryRun {
			return a
		}
		return r.start(pl, a, "")
	}
	a.UUID = cur.UUID
	if err := r.owns(pl, cur); err != nil {
		return r.fail(a, err)
	}
	keep, why := decide(pl, cur)
	if keep {
		a.Do, a.Reason = DoKeep, why
		return a
	}
	a.Do, a.Reason, a.Replaced = DoReplace, why, cur.UUID
	// An edit that names an image podctl does not have would stop the
	// pod for nothing: found out before the pod is touched.
	if err := r.checkImages(pl); err != nil {
		return r.fail(a, fmt.Errorf("%s: %w: pod %s is left as it is", pl.pod.File, err, cur.UUID))
	}
	if r.opts.DryRun {
		return a
	}
	if err := r.remove(cur, events.Replaced, why); err != nil {
		return r.fail(a, fmt.Errorf("%s: replacing pod %s: %w", pl.pod.File, cur.UUID, err))
	}
	return r.start(pl, a, cur.UUID)
}

// checkImages makes sure each image of the file is in the store or is a
// file; a registry reference (docker://...) or an ACI's URL is left to the
// fetch, which prepare does for them every time.
func (r *run) checkImages(pl *plan) error {
	for _, a := range pl.opts.Apps {
		fi, err := os.Stat(a.Image)
		switch {
		case stage0.IsLayeredRef(a.Image), stage0.IsRemoteRef(a.Image):
		case err == nil && fi.Mode().IsRegular():
			// An image file, imported as the pod is prepared.
		case strings.HasPrefix(a.Image, "/"):
			return fmt.Errorf("image file %s does not exist", a.Image)
		default:
			if _, err := stage0.ImageManifest(r.c, a.Image); err != nil {
				return err
			}
		}
	}
	return nil
}

// owns refuses a pod the file may not act on: one not started from a pod
// file, or from another file that still gives this name.
func (r *run) owns(pl *plan, cur *stage0.PodInfo) error {
	if cur.Source == nil {
		return fmt.Errorf("%s: pod name %s is taken by pod %s, which was not started from a pod file: rename the pod in the file, or remove that pod (podctl stop %s; podctl rm %s)",
			pl.pod.File, pl.pod.Name, cur.UUID, pl.pod.Name, pl.pod.Name)
	}
	if cur.Source.File == pl.pod.File {
		return nil
	}
	if other, err := podfile.ReadFile(cur.Source.File); err == nil && other.Name == pl.pod.Name {
		return fmt.Errorf("%s: pod name %s is taken by pod %s of pod file %s: give each pod file a name of its own",
			pl.pod.File, pl.pod.Name, cur.UUID, cur.Source.File)
	}
	// The other file is gone, or names another pod now: this one takes
	// the name over.
	return nil
}

// decide says whether the pod cur matches the file, and why (not).
func decide(pl *plan, cur *stage0.PodInfo) (keep bool, why string) {
	if cur.Source.File != pl.pod.File {
		return false, "the pod came from " + cur.Source.File
	}
	if cur.Source.Digest != pl.pod.Digest {
		return false, "the pod file changed"
	}
	switch st := cur.State; {
	case st.Condition == stage0.Terminating:
		return false, "the pod is being stopped"
	case st.Lifecycle == lifecycle.Running:
		return true, "the pod runs as its file says"
	case st.Lifecycle.IsAfterRun() && pl.restart != "always":
		// Its restart policy let it end: as a finished job, kept.
		return true, fmt.Sprintf("the pod has ended, and its restart policy is %s", pl.restart)
	case st.Lifecycle.IsAfterRun():
		return false, "the pod has ended"
	}
	return false, fmt.Sprintf("the pod is %s, not running", cur.State)
}

// remove stops a pod with its file's grace period and removes it,
// recording why first (events.Replaced or events.Pruned).
func (r *run) remove(cur *stage0.PodInfo, event, why string) error {
	if p, err := r.c.OpenPod(cur.UUID); err == nil {
		p.Event(events.Event{Type: event, Message: why})
		p.Close()
	}
	grace := DefaultStopGrace
	if cur.Source != nil && cur.Source.StopGrace != "" {
		if d, err := time.ParseDuration(cur.Source.StopGrace); err == nil {
			grace = d
		}
	}
	if cur.State.Lifecycle == lifecycle.Running {
		if _, err := stage0.Stop(r.c, cur.UUID, false, grace); err != nil && !errors.Is(err, stage0.ErrAlreadyStopped) {
			return err
		}
	}
	if _, err := stage0.Remove(r.c, cur.UUID); err != nil && !errors.Is(err, stage0.ErrRemovedMeanwhile) && !errors.Is(err, lifecycle.ErrNotFound) {
		return err
	}
	return nil
}

// prune stops and removes a pod whose file is gone, under its name's lock,
// once it has checked again that the name still holds that pod.
func (r *run) prune(pi *stage0.PodInfo) Action {
	why := "its pod file is gone"
	if _, err := os.Lstat(pi.Source.File); err == nil {
		why = "its pod file names another pod now"
	}
	a := Action{Do: DoPrune, Name: pi.Name, File: pi.Source.File, UUID: pi.UUID, Reason: why}
	if r.opts.DryRun {
		return a
	}
	unlock, err := r.lockName(pi.Name)
	if err != nil {
		return r.fail(a, err)
	}
	defer unlock()
	cur, err := r.current(pi.Name)
	if err != nil {
		return r.fail(a, err)
	}
	if cur == nil || cur.UUID != pi.UUID {
		// Removed or replaced by another apply meanwhile.
		a.Reason = "removed meanwhile by another podctl"
		return a
	}
	if err := r.remove(cur, events.Pruned, why); err != nil {
		return r.fail(a, fmt.Errorf("%s: removing pod %s: %w", pi.Source.File, pi.UUID, err))
	}
	return a
}
