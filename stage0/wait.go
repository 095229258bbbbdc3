package stage0

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
)

// The conditions podctl wait waits for.
const (
	// WaitRunning: the pod's stage1 holds it (it may not be ready yet).
	WaitRunning = "running"
	// WaitReady: the pod runs and every app has started (or said ready).
	WaitReady = "ready"
	// WaitExited: the pod has run and exited.
	WaitExited = "exited"
)

// WaitConditions lists the conditions, for help and errors.
var WaitConditions = []string{WaitRunning, WaitReady, WaitExited}

// waitPoll is how often a wait for a pod to be running looks again.
const waitPoll = 50 * time.Millisecond

// WaitResult is what Wait found for one pod.
type WaitResult struct {
	// UUID is the pod's whole UUID.
	UUID string
	// ExitCode is the pod's exit code, for WaitExited.
	ExitCode int
	// Err says why the condition will never hold for this pod; nil if it
	// held.
	Err error
	// Done is false for a pod still waited for when ctx ended.
	Done bool
}

// Wait blocks until cond holds for every pod of ids (UUIDs, or prefixes as
// other verbs take them), or will never hold, or ctx is done. Every pod is
// looked up before any waiting, so an unknown pod fails the call at once.
// The results are in the order of ids. The error is a lookup's, or ctx's
// when it ended before every pod was done (the results then say which were
// not: Done false).
func Wait(ctx context.Context, c Config, ids []string, cond string) ([]WaitResult, error) {
	if !validCondition(cond) {
		return nil, errdefs.New(ErrUsage, "unknown --condition %q: use running, ready or exited", cond)
	}
	pods := make([]*lifecycle.Pod, 0, len(ids))
	defer func() {
		for _, p := range pods {
			p.Close()
		}
	}()
	for _, id := range ids {
		p, err := c.OpenPod(id)
		if err != nil {
			return nil, err
		}
		pods = append(pods, p)
	}
	results := make([]WaitResult, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		results[i].UUID = p.UUID
		wg.Add(1)
		go func(r *WaitResult, p *lifecycle.Pod) {
			defer wg.Done()
			code, err := waitPod(ctx, p, cond)
			if ctx.Err() != nil && err != nil && errors.Is(err, ctx.Err()) {
				return
			}
			r.ExitCode, r.Err, r.Done = code, err, true
		}(&results[i], p)
	}
	wg.Wait()
	for _, r := range results {
		if !r.Done {
			return results, ctx.Err()
		}
	}
	return results, nil
}

func validCondition(cond string) bool {
	for _, c := range WaitConditions {
		if c == cond {
			return true
		}
	}
	return false
}

// waitPod waits for one pod, and for WaitExited returns its exit code.
func waitPod(ctx context.Context, p *lifecycle.Pod, cond string) (int, error) {
	switch cond {
	case WaitReady:
		return 0, notFoundIsGone(p, p.WaitReady(ctx))
	case WaitRunning:
		return 0, notFoundIsGone(p, waitRunning(ctx, p))
	}
	done, err := p.WaitFinished(ctx)
	if err != nil {
		return 0, notFoundIsGone(p, err)
	}
	defer done.Close()
	if !done.IsAfterRun() {
		return 0, errdefs.New(ErrUsage, "pod %s is %s: it never ran, so it has no exit code", p.UUID, done.State())
	}
	return PodExitCode(Info(done))
}

// waitRunning polls until the pod runs. A pod that has finished will
// never run again.
func waitRunning(ctx context.Context, p *lifecycle.Pod) error {
	for {
		cur, err := p.Refresh()
		if err != nil {
			return err
		}
		st := cur.State()
		cur.Close()
		switch {
		case st == lifecycle.Running:
			return nil
		case st.IsAfterRun():
			return errdefs.New(ErrUsage, "pod %s has already run and is %s: it will not run again", p.UUID, st)
		case st.IsFinished():
			return errdefs.New(ErrUsage, "pod %s is %s and will never run", p.UUID, st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

// notFoundIsGone says that a pod removed while it was waited for is gone.
func notFoundIsGone(p *lifecycle.Pod, err error) error {
	if err != nil && (errors.Is(err, lifecycle.ErrNotFound) || errors.Is(err, fs.ErrNotExist)) {
		return errdefs.New(lifecycle.ErrNotFound, "pod %s was removed while podctl waited for it", p.UUID)
	}
	return err
}

// PodExitCode is an exited pod's exit code, as podctl run returned it: the
// code of the first app to fail (the earliest to finish with a code other
// than 0), or 0 when every app exited 0. A pod whose stage1 died before an
// app's end was recorded has no exit code.
func PodExitCode(pi *PodInfo) (int, error) {
	// The code run exited with, as stage1 recorded it (124 for a
	// timeout); pods from before results were recorded have none.
	if pi.Result != nil && pi.Result.ExitCode != nil {
		return *pi.Result.ExitCode, nil
	}
	var first *AppInfo
	var unknown []string
	for i := range pi.Apps {
		a := &pi.Apps[i]
		switch {
		case a.ExitCode == nil:
			unknown = append(unknown, a.Name)
		case *a.ExitCode != 0 && (first == nil || finishedBefore(a, first)):
			first = a
		}
	}
	if first != nil {
		return *first.ExitCode, nil
	}
	if len(pi.Apps) == 0 {
		return 0, fmt.Errorf("pod %s has no apps to take an exit code from: see podctl status %s", pi.UUID, pi.UUID)
	}
	if len(unknown) > 0 {
		return 0, fmt.Errorf("pod %s exited without recording how %s ended (was its stage1 killed?): see podctl status %s", pi.UUID, strings.Join(unknown, ", "), pi.UUID)
	}
	return 0, nil
}

func finishedBefore(a, b *AppInfo) bool {
	if a.FinishedAt == nil || b.FinishedAt == nil {
		return false
	}
	return a.FinishedAt.Before(*b.FinishedAt)
}
