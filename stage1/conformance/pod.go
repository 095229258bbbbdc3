package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"podctl/lifecycle"
	"podctl/stage0"
	"podctl/stage1"
	"podctl/store"
)

// deadline bounds every wait of the suite: generous, for a loaded machine.
const deadline = 60 * time.Second

// pollEvery is how often a wait looks again at a condition it has no
// event for (a process, a file's size, a cgroup's processes).
const pollEvery = 20 * time.Millisecond

// envPod makes the test binary the stage0 and stage1 of one pod (PodMain).
const envPod = "PODCTL_CONFORMANCE_POD"

// podSpec is what the test hands a pod's child process in envPod.
type podSpec struct {
	DataDir string                `json:"data_dir"`
	Podctl  string                `json:"podctl"`
	Prepare stage0.PrepareOptions `json:"prepare"`
}

// PodMain, called first in TestMain, makes the test binary a pod's stage0
// and stage1 when the suite executed it for one: it prepares the pod and
// runs it as `podctl run` does (stage0.PrepareAndRun), and returns the
// pod's exit code and true; the caller exits with the code. Otherwise it
// returns false.
func PodMain() (int, bool) {
	v, ok := os.LookupEnv(envPod)
	if !ok {
		return 0, false
	}
	os.Unsetenv(envPod)
	var spec podSpec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: reading %s: %v\n", envPod, err)
		return stage1.ExitStartFailed, true
	}
	useBinary(spec.Podctl)
	code, err := stage0.PrepareAndRun(stage0.Config{DataDir: spec.DataDir}, &spec.Prepare, stage0.RunOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed, true
	}
	return code, true
}

// harness is one check's data directory, with the image imported.
type harness struct {
	t      *testing.T
	flavor string
	cfg    Config
	c      stage0.Config
	// net is the --net of the pods it starts; nil means none (the
	// suite's pods need no network) but for fly, which has the host's.
	net []string
}

func newHarness(t *testing.T, flavor string, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, flavor: flavor, cfg: cfg, c: stage0.Config{DataDir: t.TempDir()}}
	if _, err := stage0.Fetch(h.c, []string{cfg.Image}, true, store.Limits{}); err != nil {
		t.Fatalf("importing the image: %v", err)
	}
	// After the pods' own clean-ups (which kill their stage1): no pod is
	// left running, and gc undoes what they left.
	t.Cleanup(h.cleanup)
	return h
}

func (h *harness) cleanup() {
	var running []string
	lifecycle.WalkPods(h.c.DataDir, lifecycle.IncludeRunDir, func(p *lifecycle.Pod) {
		if p.State() == lifecycle.Running {
			running = append(running, p.UUID)
		}
	})
	for _, uuid := range running {
		if _, err := stage0.Stop(h.c, uuid, true, deadline); err != nil && !errors.Is(err, stage0.ErrAlreadyStopped) {
			h.t.Errorf("cleaning up: stopping pod %s: %v", uuid, err)
		}
	}
	err := stage0.GC(h.c, stage0.GCOptions{}, func(ev stage0.GCEvent) {
		if ev.What == "error" {
			h.t.Errorf("cleaning up: gc: %s", ev.Message)
		}
	})
	if err != nil {
		h.t.Errorf("cleaning up: gc: %v", err)
	}
}

// app is one app of a pod the suite runs.
type app struct {
	name   string
	exec   string
	args   []string
	env    []string
	mounts []string
}

// parseAll reads the values of a flag with the CLI's parser.
func parseAll[T any](t *testing.T, values []string, parse func(string) (T, error)) []T {
	t.Helper()
	var out []T
	for _, v := range values {
		x, err := parse(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// pod is a pod whose stage1 is a child process of the test.
type pod struct {
	h    *harness
	uuid string
	cmd  *exec.Cmd
	// out is the child's standard output and error: stage0's and stage1's
	// messages, and the apps' output.
	out string
	// exited is closed once the child has exited.
	exited chan struct{}
}

// start runs a pod of apps, with volumes as rkt wrote them, in a child
// process, and returns once the pod exists.
func (h *harness) start(volumes []string, apps ...app) *pod {
	h.t.Helper()
	dir := h.t.TempDir()
	spec := podSpec{DataDir: h.c.DataDir, Podctl: h.cfg.Podctl, Prepare: stage0.PrepareOptions{
		Flavor:        h.flavor,
		InsecureImage: true,
		UUIDFileSave:  filepath.Join(dir, "uuid"),
		Volumes:       parseAll(h.t, volumes, stage0.ParseVolume),
	}}
	switch {
	case h.net != nil:
		spec.Prepare.Network.Net = h.net
	case h.flavor != "fly":
		spec.Prepare.Network.Net = []string{"none"}
	}
	for _, a := range apps {
		spec.Prepare.Apps = append(spec.Prepare.Apps, stage0.AppOptions{Image: ImageName, Name: a.name, Exec: a.exec, Args: a.args,
			Env: parseAll(h.t, a.env, stage0.ParseEnv), Mounts: parseAll(h.t, a.mounts, stage0.ParseMount)})
	}
	b, err := json.Marshal(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	p := &pod{h: h, out: filepath.Join(dir, "output"), exited: make(chan struct{})}
	out, err := os.Create(p.out)
	if err != nil {
		h.t.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), envPod+"="+string(b))
	// Files, not pipes: an app's leftover child may hold them open long
	// after stage1 is gone, and Wait must not wait for it.
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	h.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	h.waitFor("the pod's UUID in its --uuid-file-save file", p, func() bool {
		b, err := os.ReadFile(spec.Prepare.UUIDFileSave)
		p.uuid = strings.TrimSpace(string(b))
		return err == nil && len(p.uuid) == 36
	})
	return p
}

// output is what the pod's child printed so far.
func (p *pod) output() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// hasExited reports whether the pod's child has exited.
func (p *pod) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitFor polls cond until it holds, failing the test after the deadline
// or, if p is not nil, when p's child exits first.
func (h *harness) waitFor(what string, p *pod, cond func() bool) {
	h.t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if p != nil && p.hasExited() && !cond() {
			h.t.Fatalf("waiting for %s: the pod's stage1 exited first (%s); its output:\n%s", what, p.cmd.ProcessState, p.output())
		}
		if time.Now().After(end) {
			msg := ""
			if p != nil {
				msg = "; the pod's output:\n" + p.output()
			}
			h.t.Fatalf("waiting for %s: not after %s%s", what, deadline, msg)
		}
		time.Sleep(pollEvery)
	}
}

// open opens the pod as it is now; the caller closes it.
func (p *pod) open() *lifecycle.Pod {
	p.h.t.Helper()
	lp, err := lifecycle.PodFromUUIDString(p.h.c.DataDir, p.uuid)
	if err != nil {
		p.h.t.Fatalf("opening pod %s: %v", p.uuid, err)
	}
	return lp
}

// waitReady waits for the pod to read ready (lifecycle's wait, as
// `podctl status --wait-ready` does).
func (p *pod) waitReady() {
	p.h.t.Helper()
	lp := p.open()
	defer lp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := lp.WaitReady(ctx); err != nil {
		p.h.t.Fatalf("pod %s never read ready: %v; its output:\n%s", p.uuid, err, p.output())
	}
}

// wait waits for the pod's child to exit and returns its exit code, -1 if
// a signal ended it.
func (p *pod) wait() int {
	p.h.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(deadline):
		p.h.t.Fatalf("pod %s still runs after %s; its output:\n%s", p.uuid, deadline, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// result is the finished pod's recorded result.
func (p *pod) result() *lifecycle.PodResult {
	p.h.t.Helper()
	lp := p.open()
	defer lp.Close()
	r, err := lp.Result()
	if err != nil || r == nil {
		p.h.t.Fatalf("pod %s (%s) has no result: %v", p.uuid, lp.State(), err)
	}
	return r
}

// appStatus is the status an app of the finished pod recorded.
func (p *pod) appStatus(app string) *lifecycle.AppStatus {
	p.h.t.Helper()
	lp := p.open()
	defer lp.Close()
	st, err := lp.AppStatus(app)
	if err != nil {
		p.h.t.Fatalf("app %s of pod %s recorded no status: %v", app, p.uuid, err)
	}
	return st
}

// cgroups are the pod's cgroup folders, as stage1 recorded them and the
// checks of stage1.PodCgroupDirs pass them; the pod must have one.
func (p *pod) cgroups() []string {
	p.h.t.Helper()
	lp := p.open()
	defer lp.Close()
	dirs, err := stage1.PodCgroupDirs(lp)
	if err != nil || len(dirs) == 0 {
		p.h.t.Fatalf("pod %s (%s) records no cgroup: %v", p.uuid, lp.State(), err)
	}
	return dirs
}

// hasCgroupRecord reports whether the pod still has its cgroup record,
// which a stage1 removes with the folders it names as the pod ends.
func (p *pod) hasCgroupRecord() bool {
	p.h.t.Helper()
	lp := p.open()
	defer lp.Close()
	_, err := os.Lstat(lp.FilePath(lifecycle.FileCgroup))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		p.h.t.Fatal(err)
	}
	return err == nil
}

// wantExited checks that the pod reads exited, as its lock is free.
func (p *pod) wantExited() {
	p.h.t.Helper()
	lp := p.open()
	defer lp.Close()
	if lp.State() != lifecycle.Exited {
		p.h.t.Fatalf("pod %s is %s once its stage1 is gone, want %s", p.uuid, lp.State(), lifecycle.Exited)
	}
}

// process is one process of a pod's cgroups.
type process struct {
	pid  int
	argv []string
}

func (pr process) String() string { return fmt.Sprintf("%d %q", pr.pid, pr.argv) }

// processes lists the live processes in the cgroup folders and below
// them. A zombie is dead already: its parent, or the machine's init, has
// yet to reap it.
func processes(dirs []string) []process {
	var out []process
	for _, d := range dirs {
		filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				if pid <= 0 || !alive(pid) || slices.ContainsFunc(out, func(pr process) bool { return pr.pid == pid }) {
					continue
				}
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				out = append(out, process{pid, strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")})
			}
			return nil
		})
	}
	return out
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// find returns the process of the cgroup folders whose command line is
// argv, or 0.
func find(dirs []string, argv ...string) int {
	for _, pr := range processes(dirs) {
		if slices.Equal(pr.argv, argv) {
			return pr.pid
		}
	}
	return 0
}

// marks numbers the marks this process hands out.
var marks atomic.Int64

// mark is an argument no other process of the machine has, for the
// checks to find an app's process by (`sleep MARK`).
func mark() string {
	return fmt.Sprintf("9%d%04d", os.Getpid(), marks.Add(1))
}
