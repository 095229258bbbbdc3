package systemd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"podctl/internal/flock"
	"podctl/internal/fsutil"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// The hooks are hidden verbs the app units run inside the pod, as root, in
// the stage1 root: `podctl stage1 systemd-app-exec NAME`, the service's
// main process, which records the start and becomes the app, and `podctl
// stage1 systemd-app-exited NAME` after it has ended (with systemd's
// EXIT_CODE, EXIT_STATUS and SERVICE_RESULT).
const (
	hookExec   = "systemd-app-exec"
	hookExited = "systemd-app-exited"
)

// hookExecMain is the main process of an app's service: it becomes the app,
// confined as native's apps are (isolate, kit.SetUpRoot, kit.ExecApp).
func hookExecMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "podctl: usage: stage1 "+hookExec+" APP")
		return 1
	}
	app := args[0]
	p, err := lifecycle.OpenAt(inPod)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed
	}
	defer p.Close()
	appDir := p.FilePath(lifecycle.AppDir(app))
	// Held open to write through once the root has changed.
	dir, err := os.Open(appDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return stage1.ExitStartFailed
	}
	err = func() error {
		b, err := os.ReadFile(filepath.Join(appDir, lifecycle.AppSpecJSON))
		if err != nil {
			return err
		}
		s, err := kit.DecodeSpec(string(b))
		if err != nil {
			return err
		}
		if err := addSecrets(s); err != nil {
			return err
		}
		if err := kit.JoinCgroups(s); err != nil {
			return err
		}
		if err := openStdin(filepath.Join(appDir, lifecycle.AppStdinFIFO)); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
		if err := isolate(); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
		if err := kit.SetUpRoot(s, s.CgroupViews); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
		// This process becomes the app, so its pid is the app's.
		return kit.ExecApp(s, func() error { return recordStart(dir, os.Getpid()) })
	}()
	// Still here: the app did not start. Say why, to its log and to the
	// exit hook, which puts it in the app's status.
	fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	if werr := writeAt(dir, lifecycle.AppStartError, []byte(err.Error())); werr != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", werr)
	}
	return stage1.ExitStartFailed
}

// isolate gives the calling thread, which goes on to become the app, a
// mount namespace of its own, whose root SetUpRoot then pivots to the
// app's: the service's namespace stays the stage1 root's, where its hooks
// run, and nothing of the stage1 root (the pod directory, the podctl
// binary) is left in the app's. It also gives it a cgroup namespace rooted
// at the cgroups it has joined, as its /sys/fs/cgroup shows them.
func isolate() error {
	// Never given back: the app is executed from this thread (ExecApp).
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("making its namespaces: %w", err)
	}
	// No mount of the app's reaches the stage1 root, and back.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making its mounts private: %w", err)
	}
	return nil
}

// openStdin makes the FIFO stage1 feeds (--stdin) the standard input of
// the app, if the app has one. Opening it waits for stage1 to open its end.
func openStdin(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening its input: %w", err)
	}
	defer f.Close()
	if err := unix.Dup3(int(f.Fd()), 0, 0); err != nil {
		return fmt.Errorf("taking its input: %w", err)
	}
	return nil
}

// startRecord is what the exec helper writes to apps/<name>/started.
type startRecord struct {
	StartedAt time.Time `json:"started_at"`
	// Pid is the app's main pid in the pod's PID namespace.
	Pid int `json:"pid"`
}

func podApps(p *lifecycle.Pod) ([]string, error) {
	_, m, err := p.PodManifest()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ra := range m.Apps {
		names = append(names, ra.Name.String())
	}
	return names, nil
}

// allHave reports whether every app's folder has the file name.
func allHave(p *lifecycle.Pod, apps []string, name string) bool {
	for _, a := range apps {
		if _, err := os.Stat(p.FilePath(lifecycle.AppFile(a, name))); err != nil {
			return false
		}
	}
	return true
}

// recordStart notes that an app is about to execute, with the pid it has
// in the pod, through the app's folder, opened before the app's root became
// this process's root. It first takes the app's exec lock (lifecycle.AppExecLock),
// which the execve lets go: stage1 learns from it that the app itself runs
// (execed).
func recordStart(appDir *os.File, pid int) error {
	fd, err := unix.Openat(int(appDir.Fd()), lifecycle.AppExecLock, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("taking its exec lock: %w", err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return fmt.Errorf("taking its exec lock: %w", err)
	}
	// fd is held, never closed here: the execve closes it (O_CLOEXEC),
	// and the lock goes with it.
	rec, _ := json.Marshal(startRecord{StartedAt: time.Now(), Pid: pid})
	if err := writeAt(appDir, lifecycle.AppStarted, rec); err != nil {
		return err
	}
	// Started again, if it was being restarted.
	unix.Unlinkat(int(appDir.Fd()), lifecycle.AppRestarting, 0)
	return nil
}

// execed reports whether the app in folder appDir (a path in stage1's view)
// has started and its command has replaced the exec helper: `started` is
// there and its exec lock is free.
func execed(appDir string) bool {
	if _, err := os.Stat(filepath.Join(appDir, lifecycle.AppStarted)); err != nil {
		return false
	}
	fd, err := unix.Open(filepath.Join(appDir, lifecycle.AppExecLock), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return false
	}
	unix.Flock(fd, unix.LOCK_UN)
	return true
}

// writeAt writes a file in an open folder, whole: it is written under
// another name and renamed, so that stage1, which polls for it (an app
// start of a mutable pod), never reads it empty or half written. Not
// durable: it means nothing after a reboot.
func writeAt(dir *os.File, name string, data []byte) error {
	tmp := name + ".new"
	fd, err := unix.Openat(int(dir.Fd()), tmp, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = unix.Write(fd, data)
	unix.Close(fd)
	if err == nil {
		err = unix.Renameat(int(dir.Fd()), tmp, int(dir.Fd()), name)
	}
	if err != nil {
		unix.Unlinkat(int(dir.Fd()), tmp, 0)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// spawnSteps names the steps at which systemd fails to start a service's
// process, by the exit status it then reports.
var spawnSteps = map[int]string{
	200: "changing to the working directory failed",
	203: "the command could not be executed",
	209: "its standard output could not be set up",
	216: "its group could not be set",
	217: "its user could not be set",
}

// exitStatus turns systemd's description of how a service's main process
// ended into an app status. started tells whether the app ever ran: a
// status at or above 200 from an app that never ran is systemd's own
// failure to start it.
func exitStatus(exitCode, exitStatus, result string, started bool) *lifecycle.AppStatus {
	st := &lifecycle.AppStatus{}
	switch exitCode {
	case "exited":
		st.ExitCode, _ = strconv.Atoi(exitStatus)
		// systemd's own codes for a failed spawn run from 200 to 243.
		if !started && st.ExitCode >= 200 && st.ExitCode <= 243 {
			step := spawnSteps[st.ExitCode]
			if step == "" {
				step = fmt.Sprintf("systemd failed to start it (status %d)", st.ExitCode)
			}
			st.Message = "the app did not start: " + step
			st.ExitCode = stage1.ExitStartFailed
		}
	case "killed", "dumped":
		sig := unix.SignalNum("SIG" + exitStatus)
		st.ExitCode = 128 + int(sig)
		st.Signal = "SIG" + exitStatus
	default:
		// The main process never ran (it could not be executed, say).
		st.ExitCode = stage1.ExitStartFailed
	}
	if result == "oom-kill" {
		st.Reason = lifecycle.ReasonOOMKilled
	}
	return st
}

func hookExitedMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "podctl: usage: stage1 "+hookExited+" APP")
		return 1
	}
	app := args[0]
	p, err := lifecycle.OpenAt(inPod)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return 1
	}
	defer p.Close()
	var rec startRecord
	b, err := os.ReadFile(p.FilePath(lifecycle.AppFile(app, lifecycle.AppStarted)))
	started := err == nil && json.Unmarshal(b, &rec) == nil
	st := exitStatus(os.Getenv("EXIT_CODE"), os.Getenv("EXIT_STATUS"), os.Getenv("SERVICE_RESULT"), started)
	st.StartedAt = rec.StartedAt
	st.FinishedAt = time.Now()
	appDir := p.FilePath(lifecycle.AppDir(app))
	if b, err := os.ReadFile(filepath.Join(appDir, lifecycle.AppStartError)); err == nil {
		st.ExitCode, st.Message = stage1.ExitStartFailed, "the app did not start: "+string(b)
	}
	if b, err := os.ReadFile(filepath.Join(appDir, lifecycle.AppSpecJSON)); err == nil {
		if s, err := kit.DecodeSpec(string(b)); err == nil {
			kit.NoteOOM(st, s)
		}
	}
	restarts := readCount(p.FilePath(lifecycle.AppRestartsFile(app)))
	st.RestartCount = restarts
	_, m, merr := p.PodManifest()
	mutable := merr == nil && lifecycle.IsMutable(m)
	stopping := exists(filepath.Join(appDir, lifecycle.AppStopping))
	if mutable {
		// No pod's end gives it one later (finishStatuses): an app of a
		// mutable pod ends on its own, or by podctl app stop.
		st.Reason = kit.Reason(st, stopping, lifecycle.ReasonStopped)
	}
	if err := p.WriteAppStatus(app, st); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return 1
	}
	if stopping {
		// podctl app stop: neither restarted nor the pod's end.
		return 0
	}
	restarted, err := restartLater(p, app, st.ExitCode, restarts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
	}
	if restarted {
		return 0
	}
	if mutable {
		// A mutable pod outlives its apps: podctl stop ends it.
		return 0
	}
	code, end, err := decideEnd(p, st.ExitCode)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return 1
	}
	if !end {
		return 0
	}
	// --no-block: this hook is part of the unit's stop, which the exit job
	// will wait for.
	out, err := exec.Command("systemctl", "--no-block", "exit", strconv.Itoa(code)).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: ending the pod: %v: %s\n", err, out)
		return 1
	}
	return 0
}

// decideEnd says whether the pod is over now that an app ended with code,
// and with what code: the first app to fail ends the pod with its code;
// otherwise the pod ends with 0 once every app has ended.
func decideEnd(p *lifecycle.Pod, code int) (int, bool, error) {
	f, err := os.OpenFile(p.FilePath(lifecycle.FileExitLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	if err := flock.Lock(f, flock.Exclusive); err != nil {
		return 0, false, err
	}
	if _, err := os.Stat(p.FilePath(lifecycle.FileFirstFailure)); err == nil {
		return 0, false, nil // the pod is already ending
	}
	if code != 0 {
		if err := fsutil.WriteFile(p.FilePath(lifecycle.FileFirstFailure), []byte(strconv.Itoa(code)), 0o600, false); err != nil {
			return 0, false, err
		}
		return code, true, nil
	}
	apps, err := podApps(p)
	if err != nil {
		return 0, false, err
	}
	return 0, allHave(p, apps, lifecycle.AppExit) && noneHave(p, apps, lifecycle.AppRestarting), nil
}

// restartLater schedules, as the pod's restart policy says, the start of
// an app that has just ended, after its back-off, with a transient timer
// of the pod's systemd; restarts is how many restarts came before. Nothing
// is restarted while the pod is shutting down.
func restartLater(p *lifecycle.Pod, app string, code, restarts int) (bool, error) {
	b, err := os.ReadFile(p.FilePath(lifecycle.FileTask))
	if err != nil {
		return false, nil
	}
	var t stage1.Task
	if err := json.Unmarshal(b, &t); err != nil {
		return false, fmt.Errorf("reading the pod's restart policy: %w", err)
	}
	if !t.Restart.Restarts(code, restarts) {
		return false, nil
	}
	if out, _ := exec.Command("systemctl", "is-system-running").Output(); strings.TrimSpace(string(out)) == "stopping" {
		return false, nil
	}
	appDir := p.FilePath(lifecycle.AppDir(app))
	if err := os.WriteFile(filepath.Join(appDir, lifecycle.AppRestarting), nil, 0o600); err != nil {
		return false, err
	}
	delay := t.Restart.Delay(restarts)
	out, err := exec.Command("systemd-run", "--no-block", "--quiet",
		"--unit=podctl-restart-"+app+"-"+strconv.Itoa(restarts+1),
		fmt.Sprintf("--on-active=%dms", delay.Milliseconds()),
		"--timer-property=AccuracySec=1ms",
		"systemctl", "--no-block", "start", serviceName(app)).CombinedOutput()
	if err != nil {
		os.Remove(filepath.Join(appDir, lifecycle.AppRestarting))
		return false, fmt.Errorf("restarting app %s: %v: %s", app, err, out)
	}
	// Counted once it is sure to happen; the start comes a back-off later.
	if err := fsutil.WriteFile(p.FilePath(lifecycle.AppRestartsFile(app)), []byte(strconv.Itoa(restarts+1)), 0o600, false); err != nil {
		return true, err
	}
	return true, nil
}

// noneHave reports whether no app's folder has the file name.
func noneHave(p *lifecycle.Pod, apps []string, name string) bool {
	for _, a := range apps {
		if _, err := os.Stat(p.FilePath(lifecycle.AppFile(a, name))); err == nil {
			return false
		}
	}
	return true
}

// readCount reads a count file; a missing one is 0.
func readCount(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
