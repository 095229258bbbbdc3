package native

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/trace"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// startApp starts app s as a child of the init, in a mount namespace of its
// own rooted in the app's root, in the app's cgroups, with the default
// capabilities of a container.
//
// A Go program cannot run code between fork and exec, so the set-up is done
// by a thread that then forks the app: a child is born with its parent
// thread's mount namespace, root, working directory, umask, capabilities
// and (v1) cgroups. That thread is never given back to the Go scheduler:
// it ends with the goroutine.
//
// ready is called once the app's root is set up, before the app starts:
// it waits for the pod's networks, and says why the pod has none.
func startApp(s *kit.AppSpec, views []cgroup.View, stdio stage1.Stdio, r *reaper, interactive bool, ready func() error) (kit.Proc, error) {
	type result struct {
		p   *appProc
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		p, err := forkApp(s, views, stdio, r, interactive, ready)
		ch <- result{p, err}
	}()
	res := <-ch
	if res.err != nil {
		if strings.HasPrefix(res.err.Error(), "app "+s.Name+": ") || errors.As(res.err, new(*kit.NetworkError)) {
			// The exec helper's line (ExecApp's) names the app already;
			// a pod without its network is no app's failure.
			return nil, res.err
		}
		return nil, fmt.Errorf("app %s: %w", s.Name, res.err)
	}
	return res.p, nil
}

// forkApp runs on a thread of its own, which it changes for good.
func forkApp(s *kit.AppSpec, views []cgroup.View, stdio stage1.Stdio, r *reaper, interactive bool, ready func() error) (*appProc, error) {
	// Also unshares the thread's root, working directory and umask.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("making its mount namespace: %w", err)
	}
	// The app's device cgroup (v1) refuses mknod, with which SetUpRoot
	// makes /dev: the thread joins it last. In the unified hierarchy only
	// the app is born in its folder, through cgfd.
	rest, devices, err := cgroup.DeferDevices(s.Cgroups)
	if err != nil {
		return nil, err
	}
	defer devices.Close()
	cgfd, err := cgroup.JoinThread(rest)
	if err != nil {
		return nil, err
	}
	if cgfd >= 0 {
		defer unix.Close(cgfd)
	}
	if err := kit.SetUpRoot(s, views); err != nil {
		return nil, err
	}
	if err := devices.Join(); err != nil {
		return nil, err
	}
	trace.Mark("root set up")
	if err := ready(); err != nil {
		return nil, err
	}
	caps, err := s.HelperCapabilities()
	if err != nil {
		return nil, err
	}
	if err := kit.DropCapabilities(caps); err != nil {
		return nil, err
	}
	return r.startThroughHelper(s, stdio, interactive, cgfd)
}

// startThroughHelper starts the app through podctl's exec helper, which
// sets what binds the process that sets it (resource limits,
// oom_score_adj, no_new_privs, the seccomp filter) on itself and becomes
// the app (kit.ExecApp): the init cannot set those for a child it forks
// without binding itself, and a Go program runs no code between fork and
// exec. The podctl binary is not in the app's root: the helper is executed
// through a descriptor of it, inherited. It is born in the app's cgroups:
// the thread's v1 ones, and the unified one through cgfd, if not -1.
func (r *reaper) startThroughHelper(s *kit.AppSpec, stdio stage1.Stdio, interactive bool, cgfd int) (*appProc, error) {
	enc, err := kit.EncodeSpec(s)
	if err != nil {
		return nil, err
	}
	self, err := r.self()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		// ExtraFiles: the error pipe is 3 (StartWithErrPipe), the binary 4.
		Path:       "/proc/self/fd/4",
		Args:       []string{"podctl", stage1.Verb, helperExec},
		Env:        []string{envSpec + "=" + enc},
		Dir:        "/",
		ExtraFiles: []*os.File{self},
		SysProcAttr: &syscall.SysProcAttr{
			// An app with the terminal stays in the caller's session, whose
			// terminal it is; the others get sessions of their own.
			Setsid: !interactive,
			// Rooted in the app's own cgroups, which the kernel makes the
			// new namespace's root, CLONE_INTO_CGROUP or not.
			Cloneflags:  syscall.CLONE_NEWCGROUP,
			UseCgroupFD: cgfd >= 0,
			CgroupFD:    cgfd,
		},
	}
	kit.SetUserNamespace(cmd.SysProcAttr, s.Users)
	stdio.Apply(cmd)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := kit.StartWithErrPipe(cmd); err != nil {
		return nil, err
	}
	trace.Mark("app executed")
	p := &appProc{pid: cmd.Process.Pid, done: make(chan syscall.WaitStatus, 1)}
	r.waiting[p.pid] = p.done
	cmd.Process.Release()
	return p, nil
}

// execMain is the exec helper, in the app's namespaces and root.
func execMain(args []string) int {
	kit.HelperInit()
	// The binary's descriptor must not reach the app.
	unix.CloseOnExec(kit.ErrPipeFD + 1)
	s, err := kit.DecodeSpec(os.Getenv(envSpec))
	if err != nil {
		return kit.HelperFail(err)
	}
	return kit.HelperFail(kit.ExecApp(s, nil))
}
