package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/trace"
	"podctl/stage1"
	"podctl/stage1/appexec"
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
	var p *appProc
	var err error
	kit.OnOwnThread(func() { p, err = forkApp(s, views, stdio, r, interactive, ready) })
	if err != nil {
		if strings.HasPrefix(err.Error(), "app "+s.Name+": ") || errors.As(err, new(*kit.NetworkError)) {
			// The exec helper's line (appexec.Exec's) names the app already;
			// a pod without its network is no app's failure.
			return nil, err
		}
		return nil, fmt.Errorf("app %s: %w", s.Name, err)
	}
	return p, nil
}

// forkApp runs on a thread of its own, which it changes for good. Where
// stage1 makes the app's mount namespace (podConfig.AheadNamespaces), the
// thread joins the app's cgroups while stage1 ends it, enters it, mounts
// /proc there (kit.AppNamespace.Enter) and forks the app's exec helper.
// Otherwise it forks the helper first, as soon as it is in every cgroup
// of the app, so that the helper's start goes on beside all the rest: the
// wait for what stage1 made ahead, the root's set-up, and the helper's
// reading of what it may keep meanwhile. Once the root is ready, it
// resolves the app's spec there for podctl-exec (helperProc.resolve) and
// tells the helper to go.
func forkApp(s *kit.AppSpec, views []cgroup.View, stdio stage1.Stdio, r *reaper, interactive bool, ready func() error) (*appProc, error) {
	// Opened while the thread's root is the init's: their paths are the
	// host's.
	home, err := r.home()
	if err != nil {
		return nil, err
	}
	leave, err := home.LeaveLater(s.Cgroups)
	if err != nil {
		return nil, err
	}
	defer leave.Close()
	var ahead kit.Ahead
	defer func() { ahead.Close() }()
	cgfd := -1
	defer func() {
		if cgfd >= 0 {
			unix.Close(cgfd)
		}
	}()
	// Never in a pod ready on notify, whose apps' notify sockets the
	// supervisor mounts (podConfig.AheadNamespaces).
	expected := r.namespaces && kit.CanMakeAppNamespace(s)
	if expected {
		// Beside the end of stage1's work on the namespace.
		if cgfd, err = joinAppCgroups(s); err != nil {
			return nil, err
		}
		ahead = r.takeAhead(s.Name)
	}
	if ahead.NS != nil {
		if err := ahead.NS.Enter(); err != nil {
			return nil, err
		}
		r.holdMountFD(s.Name, ahead.NS.FD())
		trace.Mark("app's namespace entered")
	} else {
		// Also unshares the thread's root, working directory and umask.
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return nil, fmt.Errorf("making its mount namespace: %w", err)
		}
		r.holdMount(s.Name)
		if !expected {
			if cgfd, err = joinAppCgroups(s); err != nil {
				return nil, err
			}
		}
	}
	h, err := r.forkHelper(s, stdio, interactive, cgfd)
	if err != nil {
		return nil, err
	}
	// The helper was born in the app's cgroups; the thread goes back to
	// the init's v1 ones, so that the app's memory cgroup running out
	// never picks the init (cgroup.ThreadHome), and so that a /dev made
	// here gets its nodes, which the app's device cgroup refuses to
	// mknod.
	err = leave.Join()
	if err == nil && ahead.NS == nil {
		if !expected {
			// What stage1 made of the app's root while the init started.
			ahead = r.takeAhead(s.Name)
		}
		err = setUpRoot(s, views, ahead)
	}
	if err == nil {
		err = ready()
	}
	if err != nil {
		h.abort()
		return nil, err
	}
	return h.resolveAndStart(s)
}

// joinAppCgroups moves the calling thread into app s's v1 cgroups, the
// devices one last, and opens its unified one for CLONE_INTO_CGROUP: -1
// if none, else the caller's to close.
func joinAppCgroups(s *kit.AppSpec) (int, error) {
	rest, devices, err := cgroup.DeferDevices(s.Cgroups)
	if err != nil {
		return -1, err
	}
	defer devices.Close()
	cgfd, err := cgroup.JoinThread(rest)
	if err != nil {
		return -1, err
	}
	if err := devices.Join(); err != nil {
		if cgfd >= 0 {
			unix.Close(cgfd)
		}
		return -1, err
	}
	return cgfd, nil
}

// resolveAndStart tells the helper of app s, whose root is the thread's,
// to go: with the app's spec resolved there, for podctl-exec, which
// applies numbers.
func (h *helperProc) resolveAndStart(s *kit.AppSpec) (*appProc, error) {
	if h.wire {
		if err := h.resolve(&s.Spec); err != nil {
			h.abort()
			return nil, err
		}
	}
	return h.start()
}

// setUpRoot sets up the root of app s, whose exec helper is born, in the
// thread's mount namespace, from what stage1 made ahead.
func setUpRoot(s *kit.AppSpec, views []cgroup.View, ahead kit.Ahead) error {
	dev := ahead.Dev
	if dev == nil {
		var err error
		if dev, err = kit.MakeDevTree(s); err != nil {
			return err
		}
		defer dev.Close()
	}
	if err := kit.SetUpDev(s, dev, ahead.Root); err != nil {
		return err
	}
	if err := kit.FinishRoot(s, views); err != nil {
		return err
	}
	trace.Mark("root set up")
	return nil
}

// helperProc is an app's exec helper, forked before the app's root is
// ready, reading its spec meanwhile.
type helperProc struct {
	p *appProc
	// status is the error pipe's read end, spec the write end of the pipe
	// the helper reads its spec from; specErr is why the spec could not
	// be written, if it could not.
	status, spec *os.File
	specErr      error
	// wire says the helper is podctl-exec, which speaks
	// appexec.WireProtocol: it is handed the app's spec resolved
	// (resolve, kept for the helper's errors) instead of the word to go.
	wire     bool
	resolved *appexec.Resolved
	// goMsg is what start writes once the root is ready: the resolved
	// spec, or the word to go.
	goMsg []byte
}

// resolve resolves the app's spec s in the calling thread's root, the
// app's, for podctl-exec.
func (h *helperProc) resolve(s *appexec.Spec) error {
	r, err := appexec.Resolve(s)
	if err != nil {
		return err
	}
	msg, err := r.Wire()
	if err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	h.resolved, h.goMsg = r, msg
	return nil
}

// forkHelper starts the exec helper for app s (podctl-exec, a small C
// program, or podctl's own verb, appexec.Main), which sets
// what binds the process that sets it (resource limits, oom_score_adj,
// no_new_privs, the seccomp filter) on itself and becomes the app: the
// init cannot set those for a child it forks without binding itself, and
// a Go program runs no code between fork and exec. The helper's binary is
// not in the app's root: it is executed through a read-only descriptor of
// it, inherited. It is born in the app's cgroups (the thread's v1 ones,
// and the unified one through cgfd, if not -1) and namespaces; its root
// becomes the app's when the thread pivots. It reads its spec from
// descriptor 5: at once, what it keeps while the init sets up the root
// (appexec.WireHead; podctl's verb reads the whole spec as JSON), then
// the app's resolved spec, or the word to go (helperProc.start).
func (r *reaper) forkHelper(s *kit.AppSpec, stdio stage1.Stdio, interactive bool, cgfd int) (*helperProc, error) {
	bins, err := r.binaries()
	if err != nil {
		return nil, err
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting the exec helper: %w", err)
	}
	// podctl-exec, or podctl's own verb where it is missing, or for an
	// app with sockets to open, which only podctl's verb does, or whose
	// user or group is a file's owner in a pod with private users: the
	// init, in the host's user namespace, would read the owner's id on the
	// host, where the helper, in the pod's, reads it as the app knows it.
	bin, args := bins.exec, []string{execBinary, appexec.WireProtocol}
	byOwner := strings.HasPrefix(s.User, "/") || strings.HasPrefix(s.Group, "/")
	wire := bin != nil && len(s.Sockets) == 0 && !(s.Users != nil && byOwner)
	if !wire {
		bin, args = bins.podctl, []string{"podctl", stage1.Verb, helperExec, appexec.Protocol}
	}
	env := []string{"GOMAXPROCS=1"}
	if v, ok := os.LookupEnv("PODCTL_TRACE"); ok {
		// Exec clears the environment before the app's.
		env = append(env, "PODCTL_TRACE="+v)
	}
	c := kit.ChildSpec{
		// Descriptors: the error pipe is 3 (StartChild), the binary 4,
		// the spec 5 (appexec.BinaryFD, appexec.SpecFD).
		Path: "/proc/self/fd/4",
		Args: args,
		// One P, as the init (start): Exec replaces the environment
		// with the app's.
		Env:   env,
		Dir:   "/",
		Files: []*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr, bin, specR},
		Sys: &syscall.SysProcAttr{
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
	kit.SetUserNamespace(c.Sys, s.Users)
	// Held until the pid is registered, so that the reaper cannot take
	// the helper's end before anyone waits for it. The reaper is the
	// helper's only waiter.
	r.mu.Lock()
	child, status, err := kit.StartChild(c)
	// The helper has its own: the spec's write below fails, rather than
	// waits, if the helper is gone.
	specR.Close()
	if err != nil {
		r.mu.Unlock()
		specW.Close()
		return nil, err
	}
	p := &appProc{pid: child.Pid, done: make(chan syscall.WaitStatus, 1)}
	r.waiting[p.pid] = p.done
	r.mu.Unlock()
	h := &helperProc{p: p, status: status, spec: specW, wire: wire, goMsg: []byte{appexec.GoByte}}
	// What binds the app's process alone: the rest is the init's. A spec
	// larger than the pipe holds waits here for the helper to read it.
	var enc []byte
	if wire {
		enc, err = appexec.WireHead(&s.Spec)
	} else if enc, err = json.Marshal(&s.Spec); err == nil {
		enc = append(enc, '\n')
	}
	if err == nil {
		_, err = specW.Write(enc)
	}
	h.specErr = err
	return h, nil
}

// start tells the helper that the app's root is ready and waits until it
// has executed the app, or has said why not (it has then exited, and the
// reaper takes it).
func (h *helperProc) start() (*appProc, error) {
	defer h.status.Close()
	err := h.specErr
	if err == nil {
		_, err = h.spec.Write(h.goMsg)
	}
	h.spec.Close()
	// A helper that failed says why on the error pipe: its line is the
	// better one.
	msg, rerr := io.ReadAll(h.status)
	switch {
	case len(msg) > 0 && h.resolved != nil:
		return nil, errors.New(h.resolved.ExplainExecFailure(strings.TrimSpace(string(msg))))
	case len(msg) > 0:
		return nil, errors.New(strings.TrimSpace(string(msg)))
	case err != nil:
		return nil, fmt.Errorf("handing the exec helper its spec: %w", err)
	case rerr != nil:
		return nil, fmt.Errorf("reading the exec helper's status: %w", rerr)
	}
	trace.Mark("app executed")
	return h.p, nil
}

// abort ends a helper whose app is not started after all: without the
// word to go, it exits at once, and the reaper takes it.
func (h *helperProc) abort() {
	h.spec.Close()
	h.status.Close()
}
