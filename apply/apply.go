// Package apply makes the pods of pod files run as their files say, with
// no daemon: podctl apply, run by hand, by a systemd unit or timer or by
// cron, compares each file with the pod made from it and starts, replaces
// or removes pods until they match.
//
// What a pod records of its file, and how apply reads it:
//
//	| pod manifest annotation   | written by | read by                       |
//	| ------------------------- | ---------- | ----------------------------- |
//	| podctl.io/name            | prepare    | apply: finds the file's pod   |
//	| podctl.io/source-file     | apply      | apply: the pod's own file;    |
//	|                           |            | list/status: source, match    |
//	| podctl.io/source-digest   | apply      | apply: unchanged or replaced  |
//	| podctl.io/stop-grace      | apply      | apply: the grace of its stop  |
//
// The manifest is in the pod directory, which no app reaches: these are
// podctl's own records. A pod's file is identified by the pod's name, so a
// name given by a file of its own is needed; a pod named by hand (run
// --name) is never touched by apply.
//
// Order and concurrency: each pod name has a lock, DATA/apply/NAME.lock,
// held while apply looks at, stops, removes and starts that name's pod.
// Updates to one pod are therefore applied one after another, in the order
// their applies took the lock, and two applies at once end with one pod per
// file; different names do not wait for each other. A pod started by apply
// outlives it: its stage1 is `podctl run-prepared` in a session of its own
// (start.go).
package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"podctl/internal/errdefs"
	"podctl/podfile"
	"podctl/stage0"
)

// What apply did, or would do, to a pod (Action.Do).
const (
	// DoStart: the file's pod did not exist and was started.
	DoStart = "start"
	// DoKeep: the pod matches its file and was left alone.
	DoKeep = "unchanged"
	// DoReplace: the file changed (or its pod had ended); the pod was
	// stopped, removed and started again from the file.
	DoReplace = "replace"
	// DoPrune: the pod's file is gone; the pod was stopped and removed.
	DoPrune = "prune"
	// DoFail: the file could not be applied; Error says why.
	DoFail = "fail"
)

// Action is what apply did for one pod file or pod.
type Action struct {
	Do   string `json:"action"`
	Name string `json:"name,omitempty"`
	File string `json:"file"`
	// UUID is the pod's: started, kept or pruned.
	UUID string `json:"uuid,omitempty"`
	// Replaced is the UUID of the pod a replace removed.
	Replaced string `json:"replaced,omitempty"`
	// Reason says why, in a few words.
	Reason string `json:"reason,omitempty"`
	// Error is why a file could not be applied (Do is DoFail).
	Error string `json:"error,omitempty"`
	// DryRun is set when nothing was done.
	DryRun bool `json:"dry_run,omitempty"`
}

// Options are the choices of podctl apply.
type Options struct {
	// DryRun says what would be done, and does nothing.
	DryRun bool
	// ReadyTimeout bounds the wait for a started pod to be ready.
	ReadyTimeout time.Duration
	// Exe is the podctl executable that runs a started pod (stage1).
	Exe string
	// Report, if set, is told of each action once it is done, one call at
	// a time.
	Report func(Action)
}

// maxParallel is how many pods one apply acts on at once.
const maxParallel = 4

// ErrFailed says that at least one file could not be applied; the
// actions say which.
var ErrFailed = errors.New("some pod files could not be applied")

// Apply applies the pod file path, or every *.pod file in the folder path
// (not below it). Pods that apply made from a file of the folder that is
// gone are removed; for a single file, only a pod the file no longer
// names is. A file that cannot be read or applied is reported and leaves
// its pod as it was, and the others are applied all the same. The error is
// ErrFailed when a file failed, or says why nothing could be done.
func Apply(c stage0.Config, path string, opts Options) ([]Action, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("pod files %s: %w", path, err)
	}
	files, err := podFiles(abs)
	if err != nil {
		return nil, err
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	r := &run{c: c, opts: opts}
	plans, broken := r.read(files)
	pods, err := stage0.List(c)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	// Different pods do not wait for each other, but a few at a time: a
	// start is mostly CPU, and a folder may hold many files.
	slots := make(chan struct{}, maxParallel)
	do := func(f func() Action) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			r.report(f())
		}()
	}
	for _, pl := range plans {
		do(func() Action { return r.applyOne(pl) })
	}
	for _, pi := range pods {
		if r.prunable(pi, abs, plans, broken) {
			do(func() Action { return r.prune(pi) })
		}
	}
	wg.Wait()
	sort.SliceStable(r.done, func(i, j int) bool { return r.done[i].File < r.done[j].File })
	if r.failed {
		return r.done, ErrFailed
	}
	return r.done, nil
}

// podFiles lists the pod files of path: itself, or the *.pod files of the
// folder, by name.
func podFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.New(stage0.ErrUsage, "%s does not exist: give a pod file or a folder of them", path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pod files: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("reading pod files: %w", err)
	}
	var out []string
	for _, e := range entries {
		// A hidden file is an editor's. What is not a regular file is
		// listed, to be refused by name.
		if strings.HasSuffix(e.Name(), podfile.Ext) && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	return out, nil
}

// run is one Apply.
type run struct {
	c    stage0.Config
	opts Options

	mu     sync.Mutex
	done   []Action
	failed bool
}

func (r *run) report(a Action) {
	a.DryRun = r.opts.DryRun
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, a)
	if a.Do == DoFail {
		r.failed = true
	}
	if r.opts.Report != nil {
		r.opts.Report(a)
	}
}

// read parses and checks the files (readPlans), reporting those that fail.
func (r *run) read(files []string) ([]*plan, map[string]bool) {
	return readPlans(files, func(file, name string, err error) {
		r.report(Action{Do: DoFail, File: file, Name: name, Error: err.Error()})
	})
}

// readPlans parses and checks the files. It returns the plans of the good
// ones, sorted by file, and the files that failed, each given to fail;
// two files giving one name both fail, since neither can be said to win.
func readPlans(files []string, fail func(file, name string, err error)) ([]*plan, map[string]bool) {
	broken := map[string]bool{}
	byName := map[string][]*plan{}
	for _, f := range files {
		p, err := podfile.ReadFile(f)
		if err == nil {
			var pl *plan
			if pl, err = makePlan(p); err == nil {
				byName[p.Name] = append(byName[p.Name], pl)
				continue
			}
		}
		broken[f] = true
		fail(f, "", err)
	}
	var plans []*plan
	for name, pls := range byName {
		if len(pls) == 1 {
			plans = append(plans, pls[0])
			continue
		}
		for _, pl := range pls {
			var others []string
			for _, o := range pls {
				if o != pl {
					others = append(others, o.pod.File)
				}
			}
			broken[pl.pod.File] = true
			fail(pl.pod.File, name, fmt.Errorf("%s: pod name %s is also given by %s: give each pod file a name of its own", pl.pod.File, name, strings.Join(others, ", ")))
		}
	}
	slices.SortFunc(plans, func(a, b *plan) int { return strings.Compare(a.pod.File, b.pod.File) })
	return plans, broken
}

// prunable reports whether a pod was made from a pod file of scope (the
// file or folder applied) that no longer gives it: the file is gone, or
// names another pod. A pod whose file is there but broken is kept: its
// file may be fixed, and a typo must not stop a service.
func (r *run) prunable(pi *stage0.PodInfo, scope string, plans []*plan, broken map[string]bool) bool {
	src := pi.Source
	if src == nil || pi.Name == "" {
		return false
	}
	if src.File != scope && filepath.Dir(src.File) != scope {
		return false
	}
	if broken[src.File] {
		return false
	}
	for _, pl := range plans {
		if pl.pod.Name == pi.Name {
			// Its name is the file's: applyOne replaces or keeps it.
			return false
		}
	}
	if _, err := os.Lstat(src.File); err == nil && strings.HasSuffix(src.File, podfile.Ext) {
		// Still there and not read (a single file was applied), or
		// naming another pod now (then it is among the plans).
		for _, pl := range plans {
			if pl.pod.File == src.File {
				return true
			}
		}
		return false
	}
	return true
}

func (r *run) fail(a Action, err error) Action {
	a.Do, a.Error = DoFail, err.Error()
	return a
}
