package kit

// Entering a running app (podctl enter) takes two processes:
//
//  1. podctl enter itself, on the host. The flavor's Enter finds the app's
//     main process; EnterApp proves it a process of the pod and, on a
//     thread of its own, joins the process's v1 cgroups, IPC, UTS,
//     network, PID and mount namespaces, and its root. From that thread it
//     starts
//  2. the enter helper, `podctl stage1 enter`, executed through a
//     descriptor of the binary that cannot be written through (OpenSelf).
//     It is born in the pod's PID namespace, the app's root and the app's
//     cgroups (the unified one through CLONE_INTO_CGROUP); it joins the
//     app's cgroup namespace and becomes the command as an app's helper
//     becomes the app (ExecApp): the app's environment, working directory,
//     resource limits, user and group and, for a confined app, the
//     default capabilities, no_new_privs and the seccomp filter.
//
// No process of the pod can read or trace either of them: both are not
// dumpable, and both hold capabilities no app has.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/appexec"
)

// HelperEnter is the enter helper's verb: `podctl stage1 enter`.
const HelperEnter = "enter"

// envEnterSpec carries the command's AppSpec to the enter helper.
const envEnterSpec = "PODCTL_ENTER_SPEC"

// The enter helper's descriptors, after the error pipe (ErrPipeFD).
const (
	enterSelfFD     = ErrPipeFD + 1
	enterCgroupNSFD = ErrPipeFD + 2
)

// EnterTarget is the app a command enters.
type EnterTarget struct {
	// App is the app's name.
	App string
	// Pid is the host pid of the app's main process, as the flavor found
	// it. EnterApp checks it is a process of the pod.
	Pid int
	// Confined is set for the apps of the isolated flavors: the command
	// keeps the default capabilities only, under no_new_privs and the
	// default seccomp filter (AppSpec.Confined).
	Confined bool
}

// enterNamespaces are the namespaces the first stage joins, in order: the
// mount namespace last, since after it /proc is the pod's. The cgroup
// namespace is the helper's to join, once born in the app's cgroups.
var enterNamespaces = []struct {
	name string
	flag int
}{
	{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET},
	{"pid", unix.CLONE_NEWPID}, {"mnt", unix.CLONE_NEWNS},
}

// EnterApp runs cmd inside app t.App of pod p, a running one, with the
// app's own restrictions, and returns cmd's exit code (128+N if signal N
// ended it).
func EnterApp(p *lifecycle.Pod, t EnterTarget, cmd []string, stdio stage1.Stdio) (int, error) {
	if len(cmd) == 0 {
		return 0, errors.New("no command to run")
	}
	// Nothing of this process is for the pod to read, from here to the
	// helper's exec.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("entering app %s: %w", t.App, err)
	}
	tg, err := openTarget(p, t.App, t.Pid)
	if err != nil {
		return 0, err
	}
	defer tg.close()
	s, err := enterSpec(p, t, tg.env, cmd)
	if err != nil {
		return 0, err
	}
	enc, err := EncodeSpec(s)
	if err != nil {
		return 0, fmt.Errorf("entering app %s: %w", t.App, err)
	}
	self, err := OpenSelf()
	if err != nil {
		return 0, fmt.Errorf("entering app %s: %w", t.App, err)
	}
	defer self.Close()
	c := &exec.Cmd{
		// Resolved in the child, in the app's root, under the pod's /proc.
		Path:        "/proc/self/fd/" + strconv.Itoa(enterSelfFD),
		Args:        []string{"podctl", stage1.Verb, HelperEnter},
		Env:         []string{envEnterSpec + "=" + enc},
		ExtraFiles:  []*os.File{self, tg.cgroupNS},
		SysProcAttr: &syscall.SysProcAttr{},
	}
	stdio.Apply(c)
	// SIGINT and SIGQUIT from the terminal reach the command, which stays
	// in this process group: this process waits for it to end on them.
	// SIGTERM and SIGHUP are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer ReleaseSignals(sigs)
	status, err := tg.launch(c)
	if errors.Is(err, tg.gone) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("entering app %s of pod %s: %w", t.App, p.UUID, err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
					c.Process.Signal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	if err := WaitErrPipe(status, func() { c.Wait() }); err != nil {
		// The helper's line names the app.
		return 0, fmt.Errorf("entering pod %s: %w", p.UUID, err)
	}
	ws, err := CmdProc{c}.Wait()
	return exitStatus(ws, err).ExitCode, nil
}

// launch starts c inside the target from a thread of its own, which joins
// the app's namespaces for good: it is never given back to the Go
// scheduler, and ends with its goroutine. It returns the read end of c's
// error pipe.
func (t *target) launch(c *exec.Cmd) (*os.File, error) {
	var status *os.File
	var err error
	OnOwnThread(func() { status, err = t.startInside(c) })
	if err != nil && !t.alive() {
		// A PID namespace whose init has died takes no process (ENOMEM):
		// say what happened instead.
		return nil, t.gone
	}
	return status, err
}

// target is the app's main process, as the descriptors enter needs.
type target struct {
	// pid is the process, pidfd its pidfd (-1 before Linux 5.3, when
	// start is its start time); gone is the error that says it has ended.
	pid   int
	pidfd int
	start string
	gone  error
	// ns are the process's namespaces, by name; root its root folder
	// (O_PATH).
	ns   map[string]int
	root int
	// cgroupNS is its cgroup namespace, for the helper.
	cgroupNS *os.File
	// cgroups are the folders, one per hierarchy, that the command joins.
	cgroups []string
	// env is the process's environment.
	env []string
}

// openTarget opens what enter needs of process pid, app's main process,
// once it has proven it a process of pod p. A pidfd taken first, still
// alive once all is open, proves that every /proc file read was that
// process's, not one that took its pid meanwhile.
func openTarget(p *lifecycle.Pod, app string, pid int) (*target, error) {
	gone := fmt.Errorf("app %s of pod %s is not running: see podctl status %s", app, p.UUID, p.UUID)
	t := &target{pid: pid, gone: gone, ns: map[string]int{}, root: -1}
	var err error
	switch t.pidfd, err = unix.PidfdOpen(pid, 0); {
	case err == unix.ENOSYS:
		// Before Linux 5.3: the process's start time tells it from
		// another that took its pid.
		t.pidfd = -1
		if t.start, err = startTime(pid); err != nil {
			return nil, gone
		}
	case err == unix.ESRCH:
		return nil, gone
	case err != nil:
		return nil, fmt.Errorf("entering app %s: %w", app, err)
	}
	ok := false
	defer func() {
		if !ok {
			t.close()
		}
	}()
	if err := stage1.CheckPidInPod(p, pid); err != nil {
		return nil, fmt.Errorf("app %s of pod %s: %w: not entering it", app, p.UUID, err)
	}
	podDirs, err := stage1.PodCgroupDirs(p)
	if err != nil {
		return nil, err
	}
	proc, err := unix.Open("/proc/"+strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, gone
	}
	defer unix.Close(proc)
	for _, n := range enterNamespaces {
		fd, err := unix.Openat(proc, "ns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("entering app %s: opening its %s namespace: %w", app, n.name, err)
		}
		t.ns[n.name] = fd
	}
	fd, err := unix.Openat(proc, "ns/cgroup", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("entering app %s: opening its cgroup namespace: %w", app, err)
	}
	t.cgroupNS = os.NewFile(uintptr(fd), "cgroupns")
	if t.root, err = unix.Openat(proc, "root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("entering app %s: opening its root: %w", app, err)
	}
	b, err := readAt(proc, "environ")
	if err != nil {
		return nil, fmt.Errorf("entering app %s: reading its environment: %w", app, err)
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv != "" {
			t.env = append(t.env, kv)
		}
	}
	b, err = readAt(proc, "cgroup")
	if err != nil {
		return nil, fmt.Errorf("entering app %s: reading its cgroups: %w", app, err)
	}
	own, err := cgroup.ParseProcCgroup(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("entering app %s: reading its cgroups: %w", app, err)
	}
	mounts, err := readMounts()
	if err != nil {
		return nil, err
	}
	if t.cgroups, err = enterCgroups(mounts, podDirs, own); err != nil {
		return nil, fmt.Errorf("app %s of pod %s: %w: not entering it", app, p.UUID, err)
	}
	if !t.alive() {
		return nil, gone
	}
	ok = true
	return t, nil
}

// alive reports whether the process is still running.
func (t *target) alive() bool {
	if t.pidfd < 0 {
		start, err := startTime(t.pid)
		return err == nil && start == t.start
	}
	return unix.PidfdSendSignal(t.pidfd, 0, nil, 0) == nil
}

// startTime is process pid's start time, in clock ticks after boot.
func startTime(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 20 {
		return "", fmt.Errorf("reading /proc/%d/stat: too short", pid)
	}
	// Field 22 of the line, the 20th after the comm.
	return f[19], nil
}

func (t *target) close() {
	if t.pidfd >= 0 {
		unix.Close(t.pidfd)
	}
	for _, fd := range t.ns {
		unix.Close(fd)
	}
	if t.root >= 0 {
		unix.Close(t.root)
	}
	if t.cgroupNS != nil {
		t.cgroupNS.Close()
	}
}

// readAt reads the file name below the folder open as dirfd.
func readAt(dirfd int, name string) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(f)
}

// readMounts reads the cgroup hierarchies this process sees.
func readMounts() ([]cgroup.Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("finding cgroups: %w", err)
	}
	defer f.Close()
	mounts, err := cgroup.ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("finding cgroups: %w", err)
	}
	return mounts, nil
}

// enterCgroups chooses the cgroup folders the entered command joins: in
// every hierarchy where the pod has a folder (podDirs, checked), the app
// process's own (own, as /proc/PID/cgroup gives it), which must be that
// folder or below it. Elsewhere the command stays where enter is, as the
// app stays where its stage1 was.
func enterCgroups(mounts []cgroup.Mount, podDirs []string, own map[string]string) ([]string, error) {
	var out []string
	for _, m := range mounts {
		key := strings.Join(m.Controllers, ",")
		if m.V2 {
			key = ""
		}
		path, ok := own[key]
		if !ok {
			continue
		}
		var pod string
		for _, d := range podDirs {
			if strings.HasPrefix(d, strings.TrimSuffix(m.Dir, "/")+"/") {
				pod = d
			}
		}
		if pod == "" {
			continue
		}
		dir := filepath.Join(m.Dir, path)
		if dir != pod && !strings.HasPrefix(dir, pod+"/") {
			return nil, fmt.Errorf("its process is in cgroup %s, outside the pod's %s", dir, pod)
		}
		out = append(out, dir)
	}
	return out, nil
}

// startInside joins the target's cgroups, namespaces and root on the
// calling thread, locked and never given back, and starts c there with the
// error pipe.
func (t *target) startInside(c *exec.Cmd) (*os.File, error) {
	// setns into a mount namespace needs a thread whose root and working
	// directory are its own.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("unsharing the thread's root: %w", err)
	}
	// Through the host's cgroupfs, before the mount namespace changes.
	v2fd, err := cgroup.JoinThread(t.cgroups)
	if err != nil {
		return nil, err
	}
	if v2fd >= 0 {
		defer unix.Close(v2fd)
		c.SysProcAttr.UseCgroupFD, c.SysProcAttr.CgroupFD = true, v2fd
	}
	for _, n := range enterNamespaces {
		if err := unix.Setns(t.ns[n.name], n.flag); err != nil {
			return nil, fmt.Errorf("joining its %s namespace: %w", n.name, err)
		}
	}
	// The mount namespace's root may not be the app's (an app that
	// chroots, as fly's do): the process's own root is.
	if err := unix.Fchdir(t.root); err != nil {
		return nil, fmt.Errorf("entering its root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return nil, fmt.Errorf("entering its root: %w", err)
	}
	return StartErrPipe(c)
}

// enterSpec is the app's spec for the entered command: what ExecApp needs
// of the app (user, group, working directory, resource limits) from the
// pod manifest, with env, the app process's environment (secrets
// included: they are nowhere else).
func enterSpec(p *lifecycle.Pod, t EnterTarget, env, cmd []string) (*AppSpec, error) {
	_, m, err := p.PodManifest()
	if err != nil {
		return nil, err
	}
	ra := m.Apps.Get(types.ACName(t.App))
	if ra == nil || ra.App == nil {
		return nil, fmt.Errorf("pod %s has no app %s", p.UUID, t.App)
	}
	s := &AppSpec{
		Spec: appexec.Spec{
			Name:       t.App,
			Exec:       cmd,
			Env:        env,
			User:       ra.App.User,
			Group:      ra.App.Group,
			WorkingDir: ra.App.WorkingDirectory,
			Confined:   t.Confined,
		},
	}
	if s.Users, err = stage1.ReadPrivateUsers(m); err != nil {
		return nil, err
	}
	if err := readSettings(s, ra.Annotations.Get); err != nil {
		return nil, err
	}
	if err := readConfinement(s, ra); err != nil {
		return nil, err
	}
	return s, nil
}

// EnterMain is the enter helper: born in the app's root, namespaces and
// cgroups, it joins the app's cgroup namespace and becomes the command.
func EnterMain(args []string) int {
	// First: the pod must not read this process or open its binary.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return HelperFail(fmt.Errorf("entering: %w", err))
	}
	HelperInit()
	unix.CloseOnExec(enterSelfFD)
	unix.CloseOnExec(enterCgroupNSFD)
	s, err := DecodeSpec(os.Getenv(envEnterSpec))
	if err != nil {
		return HelperFail(err)
	}
	// A namespace belongs to a thread: this one goes on to execute the
	// command (ExecApp locks it too).
	runtime.LockOSThread()
	if os.Getenv(envEnterUserns) == "1" {
		// Born in the app's cgroup namespace, and its user namespace.
		return HelperFail(ExecApp(s, nil))
	}
	if err := unix.Setns(enterCgroupNSFD, unix.CLONE_NEWCGROUP); err != nil {
		return HelperFail(fmt.Errorf("entering app %s: joining its cgroup namespace: %w", s.Name, err))
	}
	unix.Close(enterCgroupNSFD)
	if s.Users != nil {
		return enterUserNamespace(s)
	}
	return HelperFail(ExecApp(s, nil))
}

// envEnterUserns marks the enter helper started in the app's user
// namespace (enterUserNamespace).
const envEnterUserns = "PODCTL_ENTER_USERNS"

// enterUserNamespace gives the command of a pod with private users its
// user namespace, with the pod's mapping: the helper starts itself again
// in a new one. It is done here, not by podctl enter, because the maps
// are written through /proc/PID, and only here, in the pod's PID
// namespace and under its /proc, is the child's pid the one /proc knows.
// This helper stays, as the host's root the app cannot signal, until the
// command ends, and ends as it does; it passes on SIGTERM and SIGHUP.
func enterUserNamespace(s *AppSpec) int {
	errPipe := os.NewFile(ErrPipeFD, "errpipe")
	c := &exec.Cmd{
		Path:        "/proc/self/fd/" + strconv.Itoa(enterSelfFD),
		Args:        []string{"podctl", stage1.Verb, HelperEnter},
		Env:         []string{envEnterSpec + "=" + os.Getenv(envEnterSpec), envEnterUserns + "=1"},
		ExtraFiles:  []*os.File{errPipe, os.NewFile(enterSelfFD, "podctl")},
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	SetUserNamespace(c.SysProcAttr, s.Users)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	if err := c.Start(); err != nil {
		return HelperFail(fmt.Errorf("entering app %s: starting it in its user namespace: %w", s.Name, err))
	}
	// The command reports on its copy of the error pipe, from here on.
	errPipe.Close()
	go func() {
		for sig := range sigs {
			c.Process.Signal(sig)
		}
	}()
	ws, err := CmdProc{c}.Wait()
	return exitStatus(ws, err).ExitCode
}

// HostPidIn returns the host pid of the process of cgroup folder dir whose
// pid in its own PID namespace is nsPid, or 0 if there is none.
func HostPidIn(dir string, nsPid int) int {
	pids, _ := (&cgroup.Group{Dirs: []string{dir}}).Procs()
	for _, pid := range pids {
		if NSPid(pid) == nsPid {
			return pid
		}
	}
	return 0
}

// NSPid is a host process's pid in its innermost PID namespace.
func NSPid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[len(f)-1])
				return n
			}
		}
	}
	return 0
}
