package kit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/fsutil"
	"podctl/internal/resident"
	"podctl/lifecycle"
	"podctl/stage1"
)

// AppPidOf returns the pid of a running app's main process.
func AppPidOf(p *lifecycle.Pod, app string) (int, error) {
	if p.State() != lifecycle.Running {
		return 0, fmt.Errorf("pod %s is %s, not running", p.UUID, p.State())
	}
	b, err := p.ReadFile(filepath.Join(lifecycle.AppDir(app), lifecycle.AppPid))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("app %s of pod %s is not running", app, p.UUID)
		}
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("reading pid of app %s: %w", app, err)
	}
	return pid, nil
}

// NewPodCgroup creates the pod's cgroup and records where it is, so that
// stop and gc can find every process of the pod. The record is written
// before any folder is made: a SIGKILL at any instant leaves no folder gc
// cannot find. It is not fsynced: cgroups do not outlive a reboot, and a
// killed process loses nothing the page cache holds.
func NewPodCgroup(p *lifecycle.Pod, also ...string) (*cgroup.Group, error) {
	uuid := p.UUID
	g, err := cgroup.PlanPodGroup(uuid, also...)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(p.FilePath(lifecycle.FileCgroup), []byte(strings.Join(g.Dirs, "\n")+"\n"), 0o600, false); err != nil {
		return nil, fmt.Errorf("recording cgroup of pod %s: %w", uuid, err)
	}
	if err := g.Make(); err != nil {
		return nil, err
	}
	return g, nil
}

// removeCgroupRecord removes the pod's cgroup record, once its stage1 has
// removed the folders it names.
func removeCgroupRecord(p *lifecycle.Pod) error {
	err := unix.Unlinkat(p.DirFd(), lifecycle.FileCgroup, 0)
	if err != nil && err != unix.ENOENT {
		return fmt.Errorf("removing cgroup record of pod %s: %w", p.UUID, err)
	}
	return nil
}

// NewPodCgroupFor creates the cgroup of a pod of apps specs (in the
// tracking hierarchy, in those named in also, in the v1 hierarchies its
// usage is read from: the cgroup package's stats controllers, and in
// those the apps' limits and device policies need) and records the pod's
// folders in the pod.
func NewPodCgroupFor(p *lifecycle.Pod, specs []AppSpec, also ...string) (*cgroup.Group, error) {
	for _, s := range specs {
		if !s.Limits.None() {
			also = append(also, "memory", "cpu", "pids")
			break
		}
	}
	for _, s := range specs {
		if s.Limits.Devices {
			// The app's device policy goes below the pod's folder there.
			also = append(also, "devices")
			break
		}
	}
	return NewPodCgroup(p, also...)
}

// NewAppGroups makes, for each app, its own folder below the pod's group
// g in the usage hierarchies and the cgroups that hold its limits. Each
// spec learns the folders its app joins (Cgroups: the pod's, then its
// own) and its own ones (LimitDirs, where the kernel also counts its
// out-of-memory kills, and which the systemd flavor binds into the pod
// for the app to join). On error the folders made stay, for the pod's
// group to remove.
//
// Per-app folders in the tracking hierarchy are the flavor's to make
// (NewAppChildren): the systemd flavor leaves that hierarchy to the pod's
// systemd.
func NewAppGroups(g *cgroup.Group, specs []AppSpec) error {
	for i := range specs {
		s := &specs[i]
		dirs, err := g.NewAppGroup(s.Name, s.Limits)
		if err != nil {
			return err
		}
		s.LimitDirs = dirs
		s.Cgroups = append(append([]string(nil), g.Dirs...), s.LimitDirs...)
	}
	return nil
}

// NewAppChildren gives each app a folder of its own below the pod's in the
// tracking hierarchy, which its processes join instead of the pod's: its
// usage is counted apart there, and enter finds its processes.
func NewAppChildren(g *cgroup.Group, specs []AppSpec) error {
	for i := range specs {
		dir, err := g.NewChild(specs[i].Name)
		if err != nil {
			return err
		}
		specs[i].Cgroups = append([]string{dir}, specs[i].Cgroups[1:]...)
	}
	return nil
}

// NoteOOM marks an app's status as out of memory when it ended on SIGKILL
// (its own death, or that of the child whose status a shell passed on) and
// the kernel counts an out-of-memory kill in its own cgroups.
func NoteOOM(st *lifecycle.AppStatus, s *AppSpec) {
	if st.ExitCode == 128+int(syscall.SIGKILL) && cgroup.OOMKills(s.LimitDirs) > 0 {
		st.Reason = lifecycle.ReasonOOMKilled
		st.Message = "killed for using more than its memory limit"
		if s.Limits.MemoryBytes == 0 {
			// Its own folder counts kills for the host's (or a parent
			// cgroup's) lack of memory too.
			st.Message = "killed by the kernel for lack of memory"
		}
	}
}

// JoinCgroups moves the calling helper into the cgroups its app belongs in
// (the pod's, and those holding the app's limits), before it makes any
// process of its own.
func JoinCgroups(s *AppSpec) error {
	if len(s.Cgroups) == 0 {
		return nil
	}
	return (&cgroup.Group{Dirs: s.Cgroups}).Join()
}

// KillPodCgroup kills every process left in the pod's cgroup: the folders
// its record names that pass the checks, and those found named for it.
func KillPodCgroup(p *lifecycle.Pod) error {
	g, err := stage1.CleanupGroup(p)
	if err != nil || g == nil {
		return err
	}
	return g.Kill(cgroup.KillWait)
}

// RemovePodCgroup kills what is left in the pod's cgroup and removes it.
func RemovePodCgroup(p *lifecycle.Pod) error {
	g, err := stage1.CleanupGroup(p)
	if err != nil || g == nil {
		return err
	}
	if err := g.Kill(cgroup.KillWait); err != nil {
		return err
	}
	return g.Remove()
}

// SignalStage1 sends SIGTERM (or SIGKILL, with force) to the pod's stage1
// process, once the pid its record gives is proven the holder of the pod's
// lock (CheckStage1Pid). A pid that fails is not signalled, and the error
// is a *BadPidError. The lock's holder is not signalled in its stead: once
// stage1 has ended, the holder is an rm or gc removing the pod. With
// force it returns once stage1 has ended, or after stage1KillWait.
func SignalStage1(p *lifecycle.Pod, force bool) error {
	if p.State() != lifecycle.Running {
		return fmt.Errorf("pod %s is %s, not running", p.UUID, p.State())
	}
	sig := unix.SIGTERM
	if force {
		sig = unix.SIGKILL
	}
	// A pod just handed to stage1 writes its pid a moment later.
	var pid int
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if pid, err = p.Pid(); err != nil {
			return &stage1.BadPidError{Pid: 0, Problem: err.Error()}
		}
		if pid != 0 || time.Now().After(deadline) {
			break
		}
	}
	if pid == 0 {
		return fmt.Errorf("pod %s has not started yet", p.UUID)
	}
	err := signalStage1(p, pid, sig)
	var bad *stage1.BadPidError
	if errors.As(err, &bad) && !stage1.Alive(pid) {
		// Its stage1 ended since the pod was opened: nothing to stop.
		return nil
	}
	return err
}

// signalStage1 sends sig to pid if it passes CheckStage1Pid. The
// descriptor opened first pins the process checked: its pid cannot be
// given to another between the check and the signal.
func signalStage1(p *lifecycle.Pod, pid int, sig unix.Signal) error {
	if pid <= 1 {
		return &stage1.BadPidError{Pid: pid, Problem: "is not a process podctl signals"}
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == unix.ESRCH:
		return &stage1.BadPidError{Pid: pid, Problem: "is no process"}
	case err != nil:
		return fmt.Errorf("stopping pod %s: %w", p.UUID, err)
	}
	defer unix.Close(pidfd)
	if err := stage1.CheckStage1Pid(p, pid); err != nil {
		return err
	}
	// Read before the signal: a native pod's Go stage1 that becomes
	// podctl-wait meanwhile is sent it again (resendAcrossHandOver).
	before, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil && err != unix.ESRCH {
		return fmt.Errorf("stopping pod %s: %w", p.UUID, err)
	}
	if sig == unix.SIGTERM && filepath.Base(before) != WaitBinary {
		resendAcrossHandOver(p, pid, pidfd)
	}
	if sig == unix.SIGKILL {
		// Killed, stage1 has its children killed as it ends (a native
		// pod's init dies with it, by its parent-death signal), and only
		// then is the pod's cgroup killed (Stop): an init still alive
		// when its apps are killed would record them killed as the pod's
		// result, where a forced stop leaves none (ResultKilled). Bounded:
		// a stage1 that does not end (frozen in a v1 freezer) still has
		// its cgroup killed.
		awaitExit(pidfd, stage1KillWait)
	}
	return nil
}

// WaitBinary is the program a native pod's stage1 becomes once the
// pod's apps have run a moment (stage1/native's hand-over).
const WaitBinary = "podctl-wait"

// handOverWindow is how long after a native pod's apps are ready its
// stage1 may still become podctl-wait: 100 ms, much later on a loaded
// machine.
const handOverWindow = 10 * time.Second

// resendAcrossHandOver sends SIGTERM again to pid, the stage1 of native
// pod p that was sent one while it was Go, if it becomes podctl-wait
// within handOverWindow of the pod's readiness: the first may have been
// caught by Go's signal handler in the moment of the execve, and lost
// with the Go program (native.becomeWaiter). The init then gets two, if
// the first was not lost. It watches beside the caller's wait for the
// pod's end, through a descriptor of its own.
func resendAcrossHandOver(p *lifecycle.Pod, pid, pidfd int) {
	// The flavor and the ready time are files of the pod, which a fly
	// pod's root app could rewrite: they only decide whether to watch.
	// What is signalled is the process already proven the pod's stage1,
	// through its pidfd, and only once it runs podctl-wait.
	if f, err := p.Flavor(); err != nil || f != "native" {
		return
	}
	ready, err := p.ReadyTime()
	if err != nil || ready.IsZero() || time.Since(ready) >= handOverWindow {
		// Not ready yet (the hand-over comes after it), or long since.
		return
	}
	fd, err := unix.Dup(pidfd)
	if err != nil {
		return
	}
	go func() {
		defer unix.Close(fd)
		for time.Since(ready) < handOverWindow {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err == nil && filepath.Base(exe) == WaitBinary {
				// Best effort: an error is a stage1 that has ended since.
				unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
				return
			}
			if err != nil && !stage1.Alive(pid) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
}

// stage1KillWait bounds how long a forced stop waits for the pod's stage1
// to end before it kills the pod's cgroup.
const stage1KillWait = 5 * time.Second

// awaitExit waits, at most d, until the process of pidfd has ended.
func awaitExit(pidfd int, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			return
		}
	}
}

// NotifyReady tells a service manager that started podctl run under
// Type=notify that the pod's apps have all started (TellReady), and has
// the calling process, the pod's stage1, settle once they have run a
// moment (SettleLater).
func NotifyReady(warn func(error)) {
	TellReady()
	SettleLater(warn)
}

// TellReady tells a service manager that started podctl run under
// Type=notify that the pod's apps have all started. Where there is none
// ($NOTIFY_SOCKET unset) it does nothing.
func TellReady() {
	daemon.SdNotify(false, daemon.SdNotifyReady)
}

// SettleLater has the calling process, the pod's stage1, which from now
// on mostly waits for its pod, settle (resident.Settle) after
// SettleDelay; warn gets a failure to.
func SettleLater(warn func(error)) {
	time.AfterFunc(SettleDelay, func() {
		if err := resident.Settle(); err != nil {
			warn(err)
		}
	})
}

// SettleDelay is how long a pod's stage1 waits, once its apps run, before
// it sheds what it used to start, or hands the waiting on: long enough
// that a pod whose apps end at once ends without paying for it.
const SettleDelay = 100 * time.Millisecond

// CgroupControl is the Stop and GC of a flavor whose pods live in the
// pod's cgroups and whose mounts live in mount namespaces that die with the
// pod, as fly's and systemd's do. Stop signals the pod's stage1 process,
// which passes SIGTERM on to the apps (or to nspawn, which shuts the pod's
// systemd down); with force it sends SIGKILL and kills every process left
// in the pod's cgroups. GC kills what is left and removes the cgroups:
// there is no mount to undo.
type CgroupControl struct{}

// Stop asks the pod to stop, or kills it. A stage1 pid that is not proven
// the pod's is reported and not signalled: a graceful stop then waits for
// the forced one, which kills the pod's checked cgroup.
func (CgroupControl) Stop(p *lifecycle.Pod, force bool) error {
	err := SignalStage1(p, force)
	var bad *stage1.BadPidError
	if errors.As(err, &bad) {
		stage1.ReportBad(p.UUID, err, "not signalled")
		err = nil
	}
	if err != nil || !force {
		return err
	}
	return KillPodCgroup(p)
}

// Pause freezes the pod's recorded cgroup; a half-frozen pod is thawed
// again, as worse than a running one.
func (CgroupControl) Pause(p *lifecycle.Pod, timeout time.Duration) error {
	g, err := runningGroup(p)
	if err != nil {
		return err
	}
	if err := g.Freeze(timeout); err != nil {
		g.Thaw()
		return err
	}
	return nil
}

// Resume thaws the pod's recorded cgroup.
func (CgroupControl) Resume(p *lifecycle.Pod) error {
	g, err := runningGroup(p)
	if err != nil {
		return err
	}
	return g.Thaw()
}

// runningGroup is the cgroup a running pod recorded, the folders that
// pass the checks.
func runningGroup(p *lifecycle.Pod) (*cgroup.Group, error) {
	g, err := stage1.PodGroup(p)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("pod %s has not made its cgroups yet: try again", p.UUID)
	}
	return g, nil
}

// KillLeftovers kills what is left in the pod's cgroups.
func (CgroupControl) KillLeftovers(p *lifecycle.Pod) error {
	return KillPodCgroup(p)
}

// GC kills what is left of the pod and removes its cgroups.
func (CgroupControl) GC(p *lifecycle.Pod) error {
	return RemovePodCgroup(p)
}
