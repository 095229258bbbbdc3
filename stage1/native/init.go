package native

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/resident"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// initMain is the pod's init, PID 1 of the pod's namespaces. It reports to
// stage1 over the error pipe: one line if the pod could not start, or the
// pipe closed once every app runs.
func initMain(args []string) int {
	kit.HelperInit()
	// Descriptors podctl run was given by its caller must not reach the
	// apps; the init's own are 0 to 2, the error pipe and the
	// configuration.
	unix.CloseRange(controlFD+1, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	unix.CloseOnExec(controlFD)
	// What needs no configuration is done while stage1 prepares the pod.
	hostNetwork := len(args) == 1 && args[0] == hostNetworkArg
	if err := setUpNamespaces(hostNetwork); err != nil {
		return kit.HelperFail(fmt.Errorf("setting up the pod's namespaces: %w", err))
	}
	r := newReaper()
	// SIGPIPE (kit.KeepOnClosedOutput: the apps' output is copied to
	// the caller once it is caught, kept) and the signals that stop the
	// pod, caught from now: Go enables each signal it is first told of
	// through a thread of its own, a round trip between two threads each
	// (0.4 ms on the way to the first app, on the init's one P), taken
	// here whenever the start waits rather than on its way. One that
	// comes before the supervisor runs waits in the channel. SIGINT
	// (Ctrl-C) stops the pod only without the terminal (kit.NotifyStop),
	// and is passed on once the configuration says so: with it, each is
	// dropped, and cannot crowd out a SIGTERM.
	stops, interrupts := make(chan os.Signal, 4), make(chan os.Signal, 1)
	kept := make(chan struct{})
	go func() {
		kit.KeepOnClosedOutput()
		close(kept)
		signal.Notify(stops, syscall.SIGTERM, syscall.SIGHUP)
		signal.Notify(interrupts, syscall.SIGINT)
	}()
	cfg, cgroupsReady, netReady, err := readConfig()
	if err == io.EOF {
		// Started early for a pod that was not run after all.
		return 0
	}
	if err != nil {
		return kit.HelperFail(fmt.Errorf("reading the pod's configuration: %w", err))
	}
	if !cfg.Interactive {
		go func() {
			for sig := range interrupts {
				stops <- sig
			}
		}()
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return kit.HelperFail(fmt.Errorf("setting the pod's host name: %w", err))
	}
	// In the pod's mount namespace, the init's own.
	pod, err := lifecycle.OpenAt(cfg.PodDir)
	if err != nil {
		return kit.HelperFail(err)
	}
	defer pod.Close()
	rc := initContext(pod, cfg)
	warn := rc.Warn
	ctl := os.NewFile(controlFD, "control")
	if cfg.Ahead {
		r.expectAhead(ctl, warn)
		r.namespaces = cfg.AheadNamespaces
	}
	r.openBinaries(cfg.Ahead)
	if err := r.giveUserns(cfg.Apps, hostNetwork); err != nil {
		return kit.HelperFail(err)
	}
	trace.Mark("init has its pod")
	sv := &kit.Supervisor{RC: rc, Specs: cfg.Apps, Cleanup: r.killAll, Mutable: cfg.Mutable, Signals: stops, OutputKept: kept}
	sv.Start = func(s *kit.AppSpec, stdio stage1.Stdio) (kit.Proc, error) {
		views, ok := cfg.Views[s.Name]
		if !ok {
			// An app added to a mutable pod brings its own.
			views = s.CgroupViews
		}
		return startApp(s, views, stdio, r, cfg.Interactive, netReady)
	}
	if cfg.Mutable {
		control := make(chan kit.AppRequest)
		sv.Control = control
		go serveInitControl(ctl, control)
	} else if cfg.Task.Restart.Never() {
		// Kept until the apps run, to hand stage1 their mount namespaces:
		// no app of the pod starts again, over the same upper folder,
		// while stage1 holds its first start's.
		r.keepMounts()
	}
	sv.Hooks = kit.Hooks{
		// The apps' cgroups, which stage1 has made meanwhile.
		Prepare: cgroupsReady,
		Ready: func() {
			r.dropAhead()
			if err := kit.MarkReady(pod); err != nil {
				warn(err)
			}
			if !cfg.Mutable {
				r.passMounts(ctl, warn, !startsLater(cfg.Apps))
			}
			kit.HelperStarted()
			joinLater(cfg.Cgroups, warn)
		},
		StartFailed: func(err error) { kit.HelperFail(err) },
		Warn:        warn,
	}
	return sv.Run()
}

// initJoinDelay is how long the apps of a pod run before its init moves
// into its own cgroups (joinLater).
const initJoinDelay = 100 * time.Millisecond

// joinLater moves the init into its cgroups, if the pod has any, once
// the apps have run for initJoinDelay, and never if the pod has ended by
// then. The apps were
// born in their cgroups; only the init moves, and moving a process takes
// the kernel's global thread-group lock, whose first writer waits for an
// RCU grace period: 4 to 25 ms on these machines, during which the
// init's thread cannot be killed, so that a pod whose app ends at once
// would wait for it to end. Until then the init is counted in stage1's
// own cgroup, as stage1 is. Then the init, which from now on mostly
// waits, settles (resident.Settle).
func joinLater(dirs []string, warn func(error)) {
	time.AfterFunc(initJoinDelay, func() {
		if len(dirs) > 0 {
			// dirs[0], the init's own folder below the pod's in the
			// tracking hierarchy, is made here, off the pod's start; it
			// goes with the pod's.
			err := os.Mkdir(dirs[0], 0o755)
			if err == nil || os.IsExist(err) {
				err = (&cgroup.Group{Dirs: dirs}).Join()
			}
			if err != nil {
				warn(err)
			}
		}
		// Last, as what runs after it brings its pages back.
		if err := resident.Settle(); err != nil {
			warn(err)
		}
	})
}

// initContext is the init's run context for pod: the init is its own
// process, and says itself what goes wrong.
func initContext(pod *lifecycle.Pod, cfg *podConfig) *stage1.RunContext {
	rc := &stage1.RunContext{
		Pod:         pod,
		Warn:        func(err error) { fmt.Fprintf(os.Stderr, "podctl: %v\n", err) },
		Interactive: cfg.Interactive,
		Debug:       cfg.Debug,
		Task:        cfg.Task,
		Debugf:      func(string, ...any) {},
	}
	if cfg.Debug {
		rc.Debugf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "stage1 init: "+format+"\n", args...)
		}
	}
	return rc
}

// readConfig reads the pod's configuration from stage1 (io.EOF: none
// came, the pod was not run after all). What may follow it on the pipe is
// read later, in this order: cgroupsReady reads the apps' cgroups into
// cfg (podConfig.AwaitCgroups), which stage1 makes while the init sets up
// what needs none; netReady says when the apps may start: at once, or
// when stage1 says the pod's networks are attached, which goes on while
// the apps are set up.
func readConfig() (cfg *podConfig, cgroupsReady, netReady func() error, err error) {
	cfg = &podConfig{}
	f := os.NewFile(configFD, "config")
	dec := json.NewDecoder(f)
	err = dec.Decode(cfg)
	cgroupsReady = sync.OnceValue(func() error {
		if !cfg.AwaitCgroups {
			return nil
		}
		var m appCgroups
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("waiting for the apps' cgroups: %w", err)
		}
		return cfg.setAppCgroups(m)
	})
	netReady = sync.OnceValue(func() error {
		defer f.Close()
		if err := cgroupsReady(); err != nil {
			return err
		}
		if !cfg.AwaitNetwork {
			return nil
		}
		return kit.ReadNetwork(dec)
	})
	if err != nil {
		netReady()
	}
	return cfg, cgroupsReady, netReady, err
}

// setAppCgroups gives each app of cfg its cgroups from m, which must name
// every app.
func (cfg *podConfig) setAppCgroups(m appCgroups) error {
	cfg.Views = map[string][]cgroup.View{}
	for i := range cfg.Apps {
		s := &cfg.Apps[i]
		c, ok := m[s.Name]
		if !ok {
			return fmt.Errorf("stage1 sent no cgroups for app %s", s.Name)
		}
		s.Cgroups, s.LimitDirs, cfg.Views[s.Name] = c.Cgroups, c.LimitDirs, c.Views
	}
	return nil
}

// setUpNamespaces makes the pod's new namespaces what the apps expect:
// mounts that never reach the host, and, in a network namespace of the
// pod's own, a loopback interface up.
func setUpNamespaces(hostNetwork bool) error {
	// The new mount namespace is a copy of the host's, sharing its
	// propagation: nothing mounted from here on may show on the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if hostNetwork {
		return nil
	}
	return network.LoopbackUp()
}

// reaper waits for every child of the init: the apps, whose ends it hands
// to their waiters, and the orphans the kernel gives PID 1, which it only
// reaps. It is the init's only waiter, so no wait of anyone else's can
// take an app's status.
type reaper struct {
	// binaries are the podctl binary, and podctl-exec beside it, for the
	// exec helper, opened once (openBinaries): by stage1 while the init
	// starts, which sends them with the apps' trees, or by the init
	// itself, which takes two RCU grace periods as the overlay's two
	// detached mounts go.
	binaries func() (binaries, error)
	// home is where the init's threads are in each v1 hierarchy, read
	// once, beside the init's start-up: an app's forking thread goes back
	// there once it has forked the app (forkApp). Read before the init
	// moves into its own cgroups (joinLater), it stays stage1's folders:
	// a thread of a later start goes there, outside every app's, and
	// ends soon after.
	home func() (*cgroup.ThreadHome, error)
	// mu is held from an app's fork until its pid is registered, so that
	// the app's end cannot be reaped before anyone waits for it.
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
	// mounts holds, by app, the mount namespace of the app's start until
	// the init passes them to stage1 (passMounts); nil when they are not
	// kept (keepMounts).
	mounts map[string]int
	// namespaces says that stage1 makes the apps' mount namespaces
	// (podConfig.AheadNamespaces).
	namespaces bool
	// ahead receives, once, the apps' roots and /devs and the binaries
	// that stage1 made and opened while the init started (kit.SendAhead);
	// nil when none come.
	ahead func() kit.Prepared
}

// openBinaries has the binaries opened: received from stage1 with the
// apps' trees, once the first app, or the user namespace, wants them, if
// they come (withAhead); else by the init itself, from now on, beside
// the rest of its start-up.
func (r *reaper) openBinaries(withAhead bool) {
	r.binaries = sync.OnceValues(func() (binaries, error) {
		if withAhead {
			if b := r.ahead().Binaries; b[selfBinary] != nil {
				return binaries{podctl: b[selfBinary], exec: b[execBinary]}, nil
			}
		}
		// Read-only, never the host's files themselves: the exec helper
		// runs in the pod, whose processes can reach its binary
		// (CVE-2019-5736).
		files, err := kit.OpenBinaries(execBinary)
		if err != nil {
			return binaries{}, fmt.Errorf("opening podctl's binary: %w", err)
		}
		return binaries{podctl: files[0], exec: files[1]}, nil
	})
	if !withAhead {
		go r.binaries()
	}
}

// expectAhead has the apps' trees and the binaries that stage1 sends
// received from ctl when the first app wants them (takeAhead,
// openBinaries).
func (r *reaper) expectAhead(ctl *os.File, warn func(error)) {
	r.ahead = sync.OnceValue(func() kit.Prepared {
		p, err := kit.ReceiveAhead(ctl)
		if err != nil {
			// Each app makes its own, and the init opens the binaries.
			warn(err)
		}
		return p
	})
}

// takeAhead is what stage1 made ahead of app's root, once: a restart
// makes its own.
func (r *reaper) takeAhead(app string) kit.Ahead {
	if r.ahead == nil {
		return kit.Ahead{}
	}
	m := r.ahead().Apps
	r.mu.Lock()
	defer r.mu.Unlock()
	a := m[app]
	delete(m, app)
	return a
}

// dropAhead lets go of what stage1 made ahead for apps that did not take
// it.
func (r *reaper) dropAhead() {
	if r.ahead == nil {
		return
	}
	m := r.ahead().Apps
	r.mu.Lock()
	defer r.mu.Unlock()
	for app, a := range m {
		a.Close()
		delete(m, app)
	}
}

// binaries are the podctl binary and podctl-exec, opened read-only
// (kit.OpenBinaries); exec is nil where podctl-exec is not beside podctl,
// and podctl's own helper verb stands in for it.
type binaries struct {
	podctl, exec *os.File
}

// execBinary is the exec helper's own binary, which starts in a fraction
// of podctl's time (appexec); selfBinary names podctl's own among the
// binaries stage1 sends the init (kit.SendAhead).
const (
	execBinary = "podctl-exec"
	selfBinary = "podctl"
)

func newReaper() *reaper {
	r := &reaper{waiting: map[int]chan syscall.WaitStatus{}}
	r.home = sync.OnceValues(cgroup.HomeOfProcess)
	go r.home()
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	go func() {
		for range sigchld {
			r.reap()
		}
	}()
	return r
}

// keepMounts has the apps' mount namespaces held from here on, until
// passMounts: an app's namespace, with its root's mounts, then ends when
// stage1 lets it go, not in the app's exit, which waits for an RCU grace
// period as the mounts go before the init learns of the exit. Only for a
// pod whose apps start once: a restart's overlay would be mounted on the
// upper folder the held one still uses.
func (r *reaper) keepMounts() {
	r.mu.Lock()
	r.mounts = map[string]int{}
	r.mu.Unlock()
}

// holdMount holds the mount namespace of the calling thread, app's own,
// if the namespaces are kept (each app starts once then).
func (r *reaper) holdMount(app string) {
	r.hold(app, func() (int, error) {
		return unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	})
}

// holdMountFD holds app's mount namespace open as fd, the caller's, as
// holdMount does the calling thread's.
func (r *reaper) holdMountFD(app string, fd int) {
	r.hold(app, func() (int, error) {
		return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	})
}

// hold keeps app's mount namespace, opened by open, if the namespaces are
// kept and app's is not yet.
func (r *reaper) hold(app string, open func() (int, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mounts == nil {
		return
	}
	if _, ok := r.mounts[app]; ok {
		return
	}
	fd, err := open()
	if err != nil {
		// The namespace then ends with the app, as it would anyway.
		return
	}
	r.mounts[app] = fd
}

// passMounts hands stage1 the apps' mount namespaces held so far, as
// descriptors over the control socket, which it then closes; later starts
// keep none. withBinaries, the binaries the exec helpers start from go
// with them, when no helper starts any more. stage1 holds them until the
// init has ended (initProc.takeAppMounts).
func (r *reaper) passMounts(ctl *os.File, warn func(error), withBinaries bool) {
	r.mu.Lock()
	fds := make([]int, 0, len(r.mounts))
	for _, fd := range r.mounts {
		fds = append(fds, fd)
	}
	r.mounts = nil
	r.mu.Unlock()
	var bins []*os.File
	if len(fds) > 0 && withBinaries {
		// The binaries the exec helpers were started from go too: nothing
		// of the pod starts again. The read-only overlay they were opened
		// through (kit.OpenBinaries) goes with the last of them, each of
		// its two mounts after an RCU grace period: beside stage1's end,
		// rather than in the init's exit, on the pod's way to its end.
		if b, err := r.binaries(); err == nil && b.podctl != nil {
			for _, f := range []*os.File{b.podctl, b.exec} {
				if f != nil {
					bins = append(bins, f)
					fds = append(fds, int(f.Fd()))
				}
			}
		}
		// The rest end in the init, as they would have.
		send := fds[:min(len(fds), maxAppMounts)]
		if err := unix.Sendmsg(int(ctl.Fd()), []byte{0}, unix.UnixRights(send...), nil, 0); err != nil {
			warn(fmt.Errorf("handing stage1 the apps' mount namespaces: %w", err))
		}
		for _, fd := range fds[:len(fds)-len(bins)] {
			unix.Close(fd)
		}
		for _, f := range bins {
			f.Close()
		}
	}
	ctl.Close()
}

// startsLater tells whether an exec helper may start once every app
// runs, for an app's post-stop handler, in a pod whose apps start once:
// its binaries are then kept to the init's end.
func startsLater(apps []kit.AppSpec) bool {
	for i := range apps {
		if apps[i].HandlerSpec(kit.PostStop) != nil {
			return true
		}
	}
	return false
}

// reap collects every child that has ended.
func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if c, ok := r.waiting[pid]; ok {
			c <- ws
			delete(r.waiting, pid)
		}
	}
}

// killAll ends what the apps left running (daemons they started) once the
// apps have exited, and reaps it. The init is the pod's PID 1: kill(-1)
// reaches every other process of the pod.
func (r *reaper) killAll() {
	if err := syscall.Kill(-1, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		fmt.Fprintf(os.Stderr, "podctl: ending the pod's processes: %v\n", err)
	}
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.ECHILD {
			return
		}
		if err != nil && err != syscall.EINTR {
			fmt.Fprintf(os.Stderr, "podctl: reaping the pod's processes: %v\n", err)
			return
		}
	}
}

// appProc is an app's main process, a child of the init.
type appProc struct {
	pid  int
	done chan syscall.WaitStatus
}

func (p *appProc) Pid() int { return p.pid }

func (p *appProc) Signal(sig syscall.Signal) error { return syscall.Kill(p.pid, sig) }

func (p *appProc) Wait() (syscall.WaitStatus, error) { return <-p.done, nil }

// giveUserns gives the apps of a pod with private users a user namespace
// with the pod's mapping, through which their trees and volumes are shown
// (kit.SetUpRoot). A process is needed to make one: a helper, started in a
// new user namespace, held only until the namespace is open. The
// namespace lives as long as the descriptor.
//
// The pod's other namespaces are the init's, owned by the host's user
// namespace, over which the apps have no capability: in a network
// namespace of the pod's own, ports below 1024 and ping are opened to
// every id, as container engines do, so that the pod's root binds port 80.
func (r *reaper) giveUserns(apps []kit.AppSpec, hostNetwork bool) error {
	if len(apps) == 0 || apps[0].Users == nil {
		return nil
	}
	// os/exec writes the maps to /proc/PID/uid_map, with the pid in the
	// pod's PID namespace: the init's /proc must be the pod's. Its mount
	// namespace is its own; each app mounts its own /proc anyway.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting the pod's /proc for its user namespace: %w", err)
	}
	if !hostNetwork {
		for _, sc := range [][2]string{{"net/ipv4/ip_unprivileged_port_start", "0"}, {"net/ipv4/ping_group_range", "0 2147483647"}} {
			if err := os.WriteFile("/proc/sys/"+sc[0], []byte(sc[1]), 0); err != nil {
				return fmt.Errorf("opening low ports to the pod's users: %w", err)
			}
		}
	}
	bins, err := r.binaries()
	if err != nil {
		return err
	}
	ns, err := kit.NewUserNamespace(bins.podctl, helperUserns, apps[0].Users, true)
	if err != nil {
		return err
	}
	for i := range apps {
		apps[i].Userns = ns
	}
	return nil
}
