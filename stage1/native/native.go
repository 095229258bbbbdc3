// Package native is the stage1 flavor that isolates a pod with Linux
// namespaces and nothing else: no booted init, no helper per app, no
// external runtime. It aims to start a pod as fast as crun does.
//
// Two processes are podctl's own:
//
//   - stage1 (the `podctl run` process) stays in the host's namespaces. It holds
//     the pod's lock, makes the pod's cgroups, starts the pod's init in new
//     mount, PID, UTS, IPC and network namespaces, passes signals to it and,
//     when it ends, removes the cgroups. Its exit code is the init's. For
//     `podctl run`, the init is started before the pod is even prepared
//     (StartEarly), so that its start-up goes on beside stage0's work.
//   - the init (`podctl stage1 native-init`) is the pod's PID 1. It names
//     the pod's host, brings up lo, starts the apps, reaps every process of
//     the pod, records the apps' exit statuses and ends with the pod.
//
// Each app runs in a mount namespace of its own, made by a thread of the
// init that sets up the app's root (overlay, volumes, /proc, /dev, /sys,
// masked paths), pivots into it and forks the app from there: the app is
// the init's child, born in its cgroups and its root, with no process in
// between (but for an app with --rlimit or --oom-score-adj, which podctl's
// exec helper becomes). Documentation/devel/stage1.md describes the layout.
package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/rootless"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/appexec"
	"podctl/stage1/kit"
)

// Flavor is the native flavor.
type Flavor struct {
	kit.CgroupControl
	// Self is the podctl binary to re-execute as the pod's init.
	Self string
}

const (
	helperInit = "native-init"
	helperExec = "native-exec"
	// helperUserns holds a user namespace with a pod's mapping while the
	// init opens it (newUserns).
	helperUserns = "native-userns"
	// initCgroup is the init's own cgroup below the pod's. It is not an
	// app name: those never hold an underscore.
	initCgroup = "_init"
	// configFD is where the init reads its pod's configuration.
	configFD = kit.ErrPipeFD + 1
	// hostNetworkArg tells the init it is in the host's network
	// namespace, whose interfaces are not its to bring up.
	hostNetworkArg = "--host-network"
)

// podConfig is what stage1 hands the init, as JSON on a pipe.
type podConfig struct {
	PodDir      string        `json:"pod_dir"`
	UUID        string        `json:"uuid"`
	Hostname    string        `json:"hostname"`
	Interactive bool          `json:"interactive,omitempty"`
	Debug       bool          `json:"debug,omitempty"`
	Task        stage1.Task   `json:"task"`
	Cgroups     []string      `json:"cgroups"`
	Apps        []kit.AppSpec `json:"apps"`
	// Views are each app's cgroups as the app sees them, by app name.
	Views map[string][]cgroup.View `json:"views"`
	// AwaitCgroups: the apps' cgroups (appCgroups) follow on the pipe
	// once stage1 has made them, and Apps and Views say none till then;
	// no app starts before they come.
	AwaitCgroups bool `json:"await_cgroups,omitempty"`
	// AwaitNetwork: a kit.NetworkMessage follows on the pipe (after the
	// cgroups) once the pod's networks are attached; no app starts before
	// it.
	AwaitNetwork bool `json:"await_network,omitempty"`
	// Mutable: the pod takes app verbs on controlFD (mutable.go).
	Mutable bool `json:"mutable,omitempty"`
	// Ahead: the apps' roots and /devs that stage1 makes while the init
	// starts come on controlFD, in one message (kit.SendAhead); not for
	// a mutable pod, whose app verbs go there.
	Ahead bool `json:"ahead,omitempty"`
	// AheadNamespaces: with them, the mount namespaces of the apps that
	// can have one made (kit.CanMakeAppNamespace), but in a pod ready on
	// notify, whose apps' notify sockets the init mounts.
	AheadNamespaces bool `json:"ahead_namespaces,omitempty"`
}

// appCgroups is the message that follows a podConfig with AwaitCgroups:
// the cgroup folders each app joins and its own (kit.AppSpec's Cgroups
// and LimitDirs) and its view of them (podConfig.Views), by app name.
type appCgroups map[string]appCgroup

type appCgroup struct {
	Cgroups   []string      `json:"cgroups"`
	LimitDirs []string      `json:"limit_dirs"`
	Views     []cgroup.View `json:"views"`
}

// appCgroupsOf is the message that says which cgroups pod's apps have.
func appCgroupsOf(pod *kit.Pod) (appCgroups, error) {
	m := appCgroups{}
	for _, s := range pod.Specs {
		views, err := pod.Group.Views(s.Cgroups)
		if err != nil {
			return nil, err
		}
		m[s.Name] = appCgroup{Cgroups: s.Cgroups, LimitDirs: s.LimitDirs, Views: views}
	}
	return m, nil
}

// warmJSON builds encoding/json's encoders and field tables for the types
// of vs, whose first use costs a Go program 0.3 to 0.4 ms for a podConfig:
// taken beside other work, as stage1 makes the pod's cgroups, rather than
// on the way to the init.
func warmJSON(vs ...any) {
	for _, v := range vs {
		_, _ = json.Marshal(v)
	}
}

// Name is "native".
func (f *Flavor) Name() string { return "native" }

// Available reports whether the host has a cgroup hierarchy to keep pods
// in. The namespaces native needs are in every kernel podctl supports.
func (f *Flavor) Available() error { return cgroup.CheckTracking() }

// Helpers has the pod's init, and the exec helper of apps with
// per-process settings.
func (f *Flavor) Helpers() map[string]func([]string) int {
	return map[string]func([]string) int{helperInit: initMain, helperExec: appexec.Main, helperUserns: kit.UsernsHolderMain, helperSample: sampleMain, helperEnd: endMain}
}

// Run makes the pod's cgroups, starts its init in new namespaces and waits
// for it.
func (f *Flavor) Run(rc *stage1.RunContext) (int, error) {
	if rc.Early != nil {
		// Ends an early init that never gets its pod, if Run fails first.
		defer rc.Early.Abort()
	}
	// stage1 encodes the init's configuration.
	go warmJSON(&podConfig{})
	// Signals for the pod go to its init, which passes them to the apps.
	// Caught from here, beside the rest of the start rather than on the
	// way to the init: Go enables each signal through a round trip
	// between two threads, up to a millisecond and a half on a busy
	// machine. One that comes sooner ends stage1, and the pod with it.
	notified := make(chan chan os.Signal, 1)
	go func() { notified <- kit.NotifyStop(rc.Interactive) }()
	stops := sync.OnceValue(func() chan os.Signal { return <-notified })
	defer func() { kit.ReleaseSignals(stops()) }()
	pod, err := kit.Begin(rc, kit.Prologue{Confined: true, AppCgroups: true, AppCgroupsLater: true, Also: kit.MutableControllers(rc.Manifest)})
	if err != nil {
		return 0, err
	}
	// The pod's PID namespace dies with its init, and every process in
	// it; what is left to undo is the cgroups.
	defer pod.End()
	trace.Mark("cgroups made")
	pn, err := kit.OpenNetwork(rc)
	if err != nil {
		return 0, err
	}
	return f.run(rc, pod, pn, stops)
}

// configOf is the configuration the init of pod gets: its own cgroup is
// to be below the pod's; the apps' cgroups, made once the init has it,
// follow (appCgroups).
func configOf(rc *stage1.RunContext, pod *kit.Pod, pn *kit.PodNetwork) (*podConfig, error) {
	g, specs := pod.Group, pod.Specs
	cfg := &podConfig{
		PodDir:      rc.Pod.Path(),
		UUID:        rc.Pod.UUID,
		Hostname:    pn.Hostname,
		Interactive: rc.Interactive,
		Debug:       rc.Debug,
		Task:        rc.Task,
		Apps:        specs,
		Views:       map[string][]cgroup.View{},
		Mutable:     lifecycle.IsMutable(rc.Manifest),
	}
	if pod.Cgroupless() {
		return cfg, nil
	}
	// Made by the init itself, when it joins it (joinLater), if the pod
	// runs that long: taken away at the end with those stage1 made.
	initDir := filepath.Join(g.Dirs[0], initCgroup)
	g.NoteChild(initDir)
	cfg.Cgroups = append([]string{initDir}, g.Dirs[1:]...)
	cfg.AwaitCgroups = true
	return cfg, nil
}

func (f *Flavor) run(rc *stage1.RunContext, pod *kit.Pod, pn *kit.PodNetwork, stops func() chan os.Signal) (int, error) {
	cfg, err := configOf(rc, pod, pn)
	if err != nil {
		return 0, err
	}
	hostNet := pn.Spec.Mode == "host"
	init, ok := rc.Early.(*initProc)
	if !ok || init.hostNetwork != hostNet {
		if ok {
			init.Abort()
		}
		rc.Debugf("starting the pod's init")
		init = f.startInit(hostNet)
		if <-init.started; init.err != nil {
			return 0, init.err
		}
	}
	defer init.release()
	if !cfg.Mutable {
		// Beside the rest of stage1's start and the init's.
		cfg.Ahead = true
		// The init gives each app of a pod ready on notify its notify
		// socket, a mount of the app's root: set up in the init.
		cfg.AheadNamespaces = !rc.Task.ReadyNotify
		go init.sendAhead(pod.Specs, cfg.AheadNamespaces, rc.Debugf)
	}
	waitNet, err := f.setUpNetwork(pod, pn, init)
	if err != nil {
		init.Abort()
		return 0, err
	}
	cfg.AwaitNetwork = waitNet != nil
	if pn.MDS {
		if err := f.startMDS(pod, init); err != nil {
			init.Abort()
			return 0, err
		}
	}
	if cfg.Mutable {
		// The app verbs need the apps' cgroups: made now, not beside the
		// init's set-up.
		if err := pod.MakeAppCgroups(); err != nil {
			init.Abort()
			return 0, err
		}
		// Listening before the init has its pod, which it may say ready
		// at once (it may have no app): a verb that follows readiness
		// finds the socket. One that comes sooner waits for the init to
		// read it.
		if <-init.started; init.err != nil {
			return 0, init.err
		}
		stop, err := serveAppControl(rc, pod, init.control)
		if err != nil {
			init.Abort()
			return 0, err
		}
		defer stop()
	}
	trace.Mark("hand pod to init")
	if err := init.give(cfg, pod, waitNet); err != nil {
		init.control.Close()
		init.releaseMounts()
		return 0, err
	}
	child := init.child
	// Passed on from now, also while the apps are getting ready.
	var pass relay
	pass.start(stops(), child)
	if err := kit.WaitErrPipe(init.status, func() { child.Wait() }); err != nil {
		// An app did not start: the init has recorded it, and the pod's
		// result, and ended.
		if !cfg.Mutable {
			init.control.Close()
		}
		init.releaseMounts()
		pass.stop()
		rc.Warn(err)
		return exitCode(child), nil
	}
	if !cfg.Mutable {
		init.takeAppMounts()
	}
	rc.Debugf("init started as pid %d; every app is ready", child.Pid)
	kit.TellReady()
	trace.Mark("apps started")
	ws := waitInit(rc, cfg, pod, pn, init, stops(), &pass)
	trace.Mark("init ended")
	init.releaseMounts()
	pass.stop()
	if ws.Signaled() {
		// The init records the pod's result as it ends: killed, it could
		// not, but this process lives on to say what happened.
		lost := fmt.Sprintf("the pod's init was killed by %s, and its apps with it", unix.SignalName(ws.Signal()))
		rc.Warn(errors.New(lost))
		return kit.RecordResult(rc.Pod, 0, kit.Ending{Lost: lost, LostBy: ws.Signal()}, rc.Warn), nil
	}
	return exitCode(child), nil
}

// relay passes the stop signals stage1 catches on to the pod's init.
type relay struct {
	// done and stopped are nil while the relay is stopped.
	done, stopped chan struct{}
}

// start passes the signals of sigs on to p until stop; it does nothing
// if the relay runs.
func (r *relay) start(sigs <-chan os.Signal, p *kit.Child) {
	if r.done != nil {
		return
	}
	r.done, r.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.stopped)
		for {
			select {
			case sig := <-sigs:
				p.Signal(sig.(syscall.Signal))
			case <-r.done:
				return
			}
		}
	}()
}

// stop stops passing signals on, once the one under way has been; it
// does nothing if the relay is stopped.
func (r *relay) stop() {
	if r.done == nil {
		return
	}
	close(r.done)
	<-r.stopped
	r.done, r.stopped = nil, nil
}

// initProc is a pod's init, started and waiting for its pod: its
// configuration, which it reads from a pipe. Started early
// (Flavor.StartEarly), its start-up overlaps stage0's preparing the pod.
type initProc struct {
	// hostNetwork: the init was started in the host's network namespace.
	hostNetwork bool
	// started is closed once the init has been started, or has failed to
	// start (err).
	started chan struct{}
	err     error
	child   *kit.Child
	// config is the write end of the configuration pipe, status the read
	// end of the error pipe, control stage1's end of the socket pair of
	// a mutable pod's app verbs, over which the init of a pod that is
	// not mutable passes its apps' mount namespaces (takeAppMounts).
	config, status, control *os.File
	// handed is set once the init has its pod.
	handed bool
	// onParent runs functions on the thread that forked the init, until
	// release (startInit).
	onParent    chan func()
	releaseOnce sync.Once
	// cgroupsMade is closed once the apps' cgroups are made (appCgroups;
	// empty in a pod without cgroups) or will not be (nil), for the apps'
	// mount namespaces made ahead.
	cgroupsMade chan struct{}
	cgroupsOnce sync.Once
	appCgroups  appCgroups
	// mounts hold the mount namespaces of the init (if it could be
	// opened) and of its apps, and the binaries the init opened
	// (takeAppMounts): the end of each, which waits for an RCU grace
	// period, then comes when stage1 lets them go (releaseMounts) rather
	// than in the exits of the init and the apps, on the pod's critical
	// path.
	mounts []int
}

// StartEarly starts the pod's init before the pod is prepared. The start
// itself, which makes the namespaces, goes on beside stage0's work.
func (f *Flavor) StartEarly(o stage1.EarlyOptions) (stage1.Early, error) {
	return f.startInit(o.HostNetwork), nil
}

var _ stage1.EarlyStarter = (*Flavor)(nil)

// startInit starts the pod's init, in the background: p.started is
// closed once it is started. The init dies with the thread that forked
// it (Pdeathsig: the kernel sends it when that thread ends, not the
// process), and only that thread may become podctl-wait (handOver): the
// goroutine that forks it keeps its thread, and runs on it what is sent
// on p.onParent, until p.release.
func (f *Flavor) startInit(hostNetwork bool) *initProc {
	p := &initProc{started: make(chan struct{}), hostNetwork: hostNetwork, onParent: make(chan func()), cgroupsMade: make(chan struct{})}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		p.err = f.start(p)
		close(p.started)
		if p.err != nil {
			return
		}
		for fn := range p.onParent {
			fn()
		}
	}()
	return p
}

// release lets the thread that forked the init go, once the init has
// been reaped; a second call does nothing.
func (p *initProc) release() {
	p.releaseOnce.Do(func() { close(p.onParent) })
}

// start starts the pod's init in new namespaces. It waits for its pod on
// descriptor 4 and reports on the error pipe, descriptor 3.
func (f *Flavor) start(p *initProc) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting the pod's init: %w", err)
	}
	defer r.Close()
	// Made for every pod, as the init starts before its manifest is
	// known: a mutable pod's app verbs go over it.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		w.Close()
		return fmt.Errorf("starting the pod's init: %w", err)
	}
	control, initControl := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "init control")
	defer initControl.Close()
	// What ps shows as the pod's PID 1.
	args := []string{"podctl", stage1.Verb, helperInit}
	flags := syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET
	if p.hostNetwork {
		args = append(args, hostNetworkArg)
		flags &^= syscall.CLONE_NEWNET
	}
	// One P: the init mostly waits, and each P more is threads and
	// scheduling the pod's start pays for (about 10% of its CPU time).
	env := []string{"GOMAXPROCS=1"}
	if v, ok := os.LookupEnv("PODCTL_TRACE"); ok {
		env = append(env, "PODCTL_TRACE="+v)
	}
	trace.Mark("fork init")
	child, status, err := kit.StartChild(kit.ChildSpec{
		Path:  f.Self,
		Args:  args,
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, r, initControl},
		Sys: &syscall.SysProcAttr{
			Cloneflags: uintptr(flags),
			// The pod ends with its stage1: the kernel kills every process
			// of a PID namespace whose init dies.
			Pdeathsig: syscall.SIGKILL,
		},
	})
	trace.Mark("init forked")
	if err != nil {
		w.Close()
		control.Close()
		return fmt.Errorf("starting the pod's init: %w", err)
	}
	p.child, p.config, p.status, p.control = child, w, status, control
	// Without it, the namespace ends with the init, as it would anyway.
	if fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", child.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		p.mounts = append(p.mounts, fd)
	}
	return nil
}

// sendAhead makes the apps' roots and /devs, and, with namespaces, their
// mount namespaces, their roots set up (makeNamespace), and opens the
// binaries the init starts the apps' exec helpers from, and sends them to
// the init (kit.SendAhead), which would make and open them itself, on the
// one P its start-up shares: here, while it starts up. The init waits for
// them once it starts its first app: sent on a socket whose other end it
// holds, they never block, and they are lost with an init that did not
// start.
func (p *initProc) sendAhead(specs []kit.AppSpec, namespaces bool, debugf func(string, ...any)) {
	opened := make(chan []*os.File, 1)
	go func() {
		// Read-only, never the host's files themselves (reaper.binaries).
		files, err := kit.OpenBinaries(execBinary)
		if err != nil {
			// The init opens them, and says why it cannot.
			debugf("opening podctl's binary for the init: %v", err)
		}
		opened <- files
	}()
	var files []*os.File
	defer func() {
		// The init has its own.
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	binaries := func() map[string]*os.File {
		if files = <-opened; len(files) != 2 {
			return nil
		}
		return map[string]*os.File{selfBinary: files[0], execBinary: files[1]}
	}
	conn := func() *os.File {
		if <-p.started; p.err != nil {
			return nil
		}
		return p.control
	}
	namespace := func(s *kit.AppSpec, a kit.Ahead) (*kit.AppNamespace, error) {
		ns, err := p.makeNamespace(s, a)
		switch {
		case err != nil:
			// The init sets the app's root up itself, and says why if it
			// cannot.
			debugf("%v", err)
		case ns != nil:
			debugf("app %s: its mount namespace made ahead", s.Name)
		}
		return ns, err
	}
	if !namespaces {
		namespace = nil
	}
	if err := kit.SendAhead(conn, specs, binaries, namespace); err != nil {
		debugf("%v", err)
	}
}

// makeNamespace makes app s's mount namespace from the trees a, once the
// init has started, finishing it once the app's cgroups are made: nil,
// and no error, where it cannot be made ahead (kit.CanBeginAppNamespace),
// or the init did not start.
func (p *initProc) makeNamespace(s *kit.AppSpec, a kit.Ahead) (*kit.AppNamespace, error) {
	// Its volumes are read once the views are: setUpNetwork adds the
	// pod's hosts and resolv.conf meanwhile.
	if !kit.CanBeginAppNamespace(s) {
		return nil, nil
	}
	if <-p.started; p.err != nil {
		return nil, nil
	}
	views := func() ([]cgroup.View, error) {
		<-p.cgroupsMade
		if p.appCgroups == nil {
			return nil, errors.New("the pod's start went no further")
		}
		// None in a pod without cgroups.
		return p.appCgroups[s.Name].Views, nil
	}
	return kit.MakeAppNamespace(s, views, a, p.child.Pid)
}

// madeCgroups says that the apps' cgroups are m, or that none will be
// made (nil); the first call counts.
func (p *initProc) madeCgroups(m appCgroups) {
	p.cgroupsOnce.Do(func() {
		p.appCgroups = m
		close(p.cgroupsMade)
	})
}

// Abort ends an init that was never given its pod; it does nothing once
// the init has it.
func (p *initProc) Abort() {
	if p.handed {
		return
	}
	p.handed = true
	p.madeCgroups(nil)
	if <-p.started; p.err != nil {
		return
	}
	p.end()
}

// end ends a started init, and takes its exit. Killed before its pipes
// close: an init that has its pod would take the configuration pipe's
// end for a stage1 gone, and record its apps as not started.
func (p *initProc) end() {
	p.child.Signal(syscall.SIGKILL)
	p.config.Close()
	p.status.Close()
	p.control.Close()
	p.child.Wait()
	p.release()
	p.releaseMounts()
}

// releaseMounts lets the mount namespaces of the init and its apps go,
// and the binaries the init started the apps' exec helpers from, once the
// init has ended: beside what stage1 does after it, on threads of their
// own (releaseThreads at most), so that the RCU grace periods their ends
// wait for (one for each namespace, two for the binaries' read-only
// overlay) overlap. Should this process exit first, the kernel closes
// them as it exits: either way they are gone when podctl run's caller
// sees it end, as they were when the init and the apps took them with
// them.
func (p *initProc) releaseMounts() {
	fds := p.mounts
	p.mounts = nil
	for t := range min(len(fds), releaseThreads) {
		go func() {
			for i := t; i < len(fds); i += releaseThreads {
				unix.Close(fds[i])
			}
		}()
	}
}

// releaseThreads is how many threads releaseMounts closes on: each
// blocks while its descriptor's end waits for a grace period.
const releaseThreads = 4

// takeAppMounts takes the apps' mount namespaces that the init of a pod
// that is not mutable has passed over the control socket, once every app
// is ready (reaper.passMounts), and closes the socket. The init sends
// them before it says the apps are ready: nothing is waited for.
func (p *initProc) takeAppMounts() {
	defer p.control.Close()
	oob := make([]byte, unix.CmsgSpace(4*maxAppMounts))
	_, oobn, _, _, err := unix.Recvmsg(int(p.control.Fd()), make([]byte, 1), oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return
	}
	for i := range msgs {
		if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			p.mounts = append(p.mounts, fds...)
		}
	}
}

// maxAppMounts is the most mount namespaces the init passes to stage1,
// the most descriptors one message carries (SCM_MAX_FD).
const maxAppMounts = 253

// give gives the init its pod; then, with cfg.AwaitCgroups, makes the
// apps' cgroups and sends them (appCgroups); then, if waitNet is set, what
// it returns (kit.SendNetwork). The init sets up what needs neither
// meanwhile, and starts the apps once they have come. The caller then
// reads the error pipe (status) to learn when every app is ready, or why
// the pod did not start. If the apps' cgroups cannot be made, the init is
// ended, having started nothing, and the error returned.
func (p *initProc) give(cfg *podConfig, pod *kit.Pod, waitNet func() error) error {
	p.handed = true
	if <-p.started; p.err != nil {
		return p.err
	}
	// Without the apps' cgroups, no app's namespace is made ahead.
	defer p.madeCgroups(nil)
	if !cfg.AwaitCgroups {
		// A pod without cgroups: its apps have none to see.
		p.madeCgroups(appCgroups{})
	}
	enc := json.NewEncoder(p.config)
	err := enc.Encode(cfg)
	if err == nil && cfg.AwaitCgroups {
		var m appCgroups
		merr := pod.MakeAppCgroups()
		if merr == nil {
			m, merr = appCgroupsOf(pod)
		}
		if merr != nil {
			p.end()
			return merr
		}
		p.madeCgroups(m)
		err = enc.Encode(m)
	}
	if err == nil && waitNet != nil {
		err = kit.SendNetwork(p.config, waitNet)
	} else {
		p.config.Close()
	}
	if err != nil {
		// The init has read what it could; what it says is the better line.
		if werr := kit.WaitErrPipe(p.status, func() { p.child.Wait() }); werr != nil {
			return werr
		}
		return fmt.Errorf("handing the pod to its init: %w", err)
	}
	return nil
}

// setUpNetwork writes the files every app sees and, when the pod has
// networks, starts joining the init's network namespace to them beside
// the rest of the start; it returns the wait for that, nil without
// networks. The networks are released when the pod ends, with the
// namespace gone.
func (f *Flavor) setUpNetwork(pod *kit.Pod, pn *kit.PodNetwork, init *initProc) (func() error, error) {
	if err := pn.Files(pod.Specs); err != nil {
		return nil, err
	}
	if !pn.Private() {
		return nil, nil
	}
	waitNet := pn.AttachBeside(func() (string, error) {
		if <-init.started; init.err != nil {
			return "", init.err
		}
		return fmt.Sprintf("/proc/%d/ns/net", init.child.Pid), nil
	})
	pod.Defer(func() error {
		// Never while the attach is under way.
		waitNet()
		return pn.Detach(true)
	})
	return waitNet, nil
}

// exitCode is the pod's exit code from its init's end: the init's own
// code, or 128+N if signal N killed it (SIGKILL from a user, most likely).
func exitCode(init *kit.Child) int {
	ws, ended := init.Status()
	if !ended {
		return stage1.ExitStartFailed
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Enter runs cmd in a running app, with the app's namespaces, root,
// cgroups, user and confinement (kit.EnterApp). The app's processes are
// those of its cgroup; the one to enter is its main process, whose pid in
// the pod the init recorded.
func (f *Flavor) Enter(p *lifecycle.Pod, app string, cmd []string, stdio stage1.Stdio) (int, error) {
	nsPid, err := kit.AppPidOf(p, app)
	if err != nil {
		return 0, err
	}
	dirs, err := stage1.PodCgroupDirs(p)
	if err != nil {
		return 0, err
	}
	if len(dirs) == 0 && rootless.Inside() {
		return enterCgroupless(p, app, nsPid, cmd, stdio)
	}
	if len(dirs) == 0 {
		return 0, fmt.Errorf("pod %s records no cgroup", p.UUID)
	}
	appDir := filepath.Join(dirs[0], app)
	pid := kit.HostPidIn(appDir, nsPid)
	if pid == 0 {
		return 0, fmt.Errorf("app %s of pod %s has no running process", app, p.UUID)
	}
	return kit.EnterApp(p, kit.EnterTarget{App: app, Pid: pid, Confined: true}, cmd, stdio)
}

var _ stage1.Flavor = (*Flavor)(nil)

// enterCgroupless is Enter for a pod without cgroups (rootless): the
// app's main process is found in the pod's PID namespace.
func enterCgroupless(p *lifecycle.Pod, app string, nsPid int, cmd []string, stdio stage1.Stdio) (int, error) {
	ns, err := stage1.PodPidNS(p)
	if err != nil {
		return 0, err
	}
	pid := stage1.HostPidInNS(ns, nsPid)
	if pid == 0 {
		return 0, fmt.Errorf("app %s of pod %s has no running process", app, p.UUID)
	}
	return kit.EnterApp(p, kit.EnterTarget{App: app, Pid: pid, Confined: true}, cmd, stdio)
}

// startMDS starts the pod's metadata service in the init's network
// namespace, before the init has its pod: the apps' environments get its
// URL.
func (f *Flavor) startMDS(pod *kit.Pod, init *initProc) error {
	if <-init.started; init.err != nil {
		return init.err
	}
	return kit.StartMDS(pod, fmt.Sprintf("/proc/%d/ns/net", init.child.Pid))
}
