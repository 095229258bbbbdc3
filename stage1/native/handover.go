package native

// Once a pod's apps have run for a moment, its stage1 only waits: for
// the init to end, for a signal to pass on, for the next usage sample. A
// Go program that waits keeps about 3 MiB and eight threads resident for
// the pod's whole life, beside every pod; and every thread of the host
// costs each later start's pivot_root (the kernel walks them all). So
// stage1 becomes podctl-wait (cmd/podctl-wait), a small C program, in its
// own process: it keeps stage1's pid, the pod's lock and the init as its
// child. podctl-wait runs podctl for each usage sample (helperSample)
// and, once the init has ended, for the pod's end (helperEnd), whose exit
// status it exits with. Where podctl-wait is missing, or speaks another
// protocol, stage1 waits itself, as it always did.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/trace"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
	"podctl/stats"
)

const (
	// waitProtocol is the arguments podctl-wait (kit.WaitBinary), the
	// program stage1 becomes (handOver), takes.
	waitProtocol = "podctl-wait-protocol/1"
	// helperSample takes one usage sample for podctl-wait; helperEnd
	// ends the pod once its init has.
	helperSample = "native-sample"
	helperEnd    = "native-end"
)

// canHandOver reports whether stage1 may become podctl-wait while the pod
// runs: not while it serves something of the pod itself (a mutable pod's
// app verbs, the terminal, the metadata service), nor for a pod without
// cgroups (an ordinary user's, whose stage1 runs in a user namespace
// another podctl waits beside).
func canHandOver(rc *stage1.RunContext, cfg *podConfig, pod *kit.Pod, pn *kit.PodNetwork) bool {
	return !rc.Interactive && !cfg.Mutable && !pn.MDS && !pod.Cgroupless()
}

// waitInit waits for the pod's init to end and returns how it ended. If
// the pod may be handed over (canHandOver) and runs for kit.SettleDelay,
// this process becomes podctl-wait and waitInit never returns; otherwise
// the process settles (kit.SettleLater) and waits itself.
func waitInit(rc *stage1.RunContext, cfg *podConfig, pod *kit.Pod, pn *kit.PodNetwork, init *initProc, sigs chan os.Signal, relay *relay) syscall.WaitStatus {
	child := init.child
	if !canHandOver(rc, cfg, pod, pn) {
		kit.SettleLater(rc.Warn)
		return child.Wait()
	}
	ended := make(chan syscall.WaitStatus, 1)
	go func() { ended <- child.Wait() }()
	select {
	case ws := <-ended:
		return ws
	case <-time.After(kit.SettleDelay):
	}
	if err := handOver(rc, pod, pn, init, sigs, relay.stop); err != nil {
		switch {
		case errors.Is(err, errInitEnded):
		case errors.Is(err, fs.ErrNotExist):
			// Not installed: stage1 waits itself, as it always did.
			rc.Debugf("waiting for the pod here: %v", err)
		default:
			rc.Warn(fmt.Errorf("stage1 waits for the pod itself, keeping 3 MiB more resident: %w", err))
		}
		relay.start(sigs, child)
		kit.SettleLater(rc.Warn)
	}
	return <-ended
}

// errInitEnded: there is nothing to hand over, the init has ended.
var errInitEnded = errors.New("the init has ended")

// handOver makes this process podctl-wait, waiting for the pod's init,
// passing it the stop signals of sigs (which stopRelay stops
// passing) and taking up the recording of its usage. It returns only if
// it could not, with the process as it was but for the relay, which it
// may have stopped (relay.start starts it again, once).
func handOver(rc *stage1.RunContext, pod *kit.Pod, pn *kit.PodNetwork, init *initProc, sigs <-chan os.Signal, stopRelay func()) error {
	child := init.child
	path, err := kit.BesideSelf(kit.WaitBinary)
	if err != nil {
		return err
	}
	if err := checkWaitProtocol(path); err != nil {
		return err
	}
	// The binary this process runs from, for podctl-wait to run again:
	// the same release, whatever is installed meanwhile.
	exe, err := unix.Open(kit.SelfExe, unix.O_PATH, 0)
	if err != nil {
		return fmt.Errorf("opening podctl's binary: %w", err)
	}
	defer unix.Close(exe)
	lock := int(rc.Pod.LockFile().Fd())
	next, state, ok := pod.HandOverUsage()
	if !ok {
		// A pod without cgroups: canHandOver said no.
		return errors.New("the pod records no usage")
	}
	args := waitArgs(path, child.Pid, exe, lock, next, state, os.Args, usageArgs(rc, pod), endArgs(rc, pod, pn))
	release, ok := child.HoldUnreaped()
	if !ok {
		return errInitEnded
	}
	defer release()
	// The rest runs on the thread that forked the init, which the init
	// dies with (startInit): execve ends every other.
	done := make(chan error, 1)
	init.onParent <- func() { done <- becomeWaiter(rc, path, args, lock, child.Pid, sigs, stopRelay) }
	if err := <-done; err != nil {
		pod.RecordUsage()
		return err
	}
	return nil
}

// becomeWaiter executes podctl-wait (path, with args) on the calling
// thread, passing the pod's lock on and, to the init (initPid, held
// unreaped), the stop signals Go caught (sigs, which stopRelay stops
// passing on). It returns only if the execve failed.
//
// A stop signal must reach the init whenever it comes. Blocked on the
// calling thread, one the kernel gives it stays pending through the
// execve, until podctl-wait, which keeps it blocked, reads it; those Go's
// handler caught on another thread are in sigs once flushCaught returns,
// and passed on. One Go's handler catches on another thread in the
// microseconds between the last look at sigs and the execve's end of the
// other threads is lost: Go cannot block a signal on its every thread
// (a mask set by AllThreadsSyscall is undone as its signal handler
// returns), so the window can be made short, not closed.
func becomeWaiter(rc *stage1.RunContext, path string, args []string, lock, initPid int, sigs <-chan os.Signal, stopRelay func()) error {
	stopRelay()
	var set, old unix.Sigset_t
	for _, s := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGCHLD} {
		set.Val[(s-1)/64] |= 1 << ((uint(s) - 1) % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return fmt.Errorf("blocking the stop signals: %w", err)
	}
	flushCaught()
	for drained := false; !drained; {
		select {
		case sig := <-sigs:
			// Held unreaped, the init is there to take it.
			if err := syscall.Kill(initPid, sig.(syscall.Signal)); err != nil {
				rc.Warn(fmt.Errorf("passing %v on to the pod's init: %w", sig, err))
			}
		default:
			drained = true
		}
	}
	// The lock passes to podctl-wait with the process; nothing else of
	// this process's does.
	_, err := unix.FcntlInt(uintptr(lock), unix.F_SETFD, 0)
	if err == nil {
		trace.Mark("handing over to podctl-wait")
		err = syscall.Exec(path, args, os.Environ())
		unix.CloseOnExec(lock)
	}
	if uerr := unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil); uerr != nil {
		rc.Warn(fmt.Errorf("unblocking the stop signals: %w: podctl stop cannot reach this pod, stop its apps with podctl stop --force", uerr))
	}
	return fmt.Errorf("becoming %s: %w", path, err)
}

// flushSignal is a signal nothing else sends (SIGRTMIN+6), which
// flushCaught sends this process.
const flushSignal = syscall.Signal(40)

// flushCaught returns once Go has handed its channels every signal it
// caught before now. A signal caught by Go's handler reaches its channel
// later, through a goroutine of Go's own; Go hands those it has caught
// in the order of their numbers, batch after batch, so that once
// flushSignal, caught after them and numbered above the stop signals,
// has reached its channel, so have they. Bounded: it would come at once.
func flushCaught() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, flushSignal)
	defer signal.Stop(c)
	if syscall.Kill(os.Getpid(), flushSignal) != nil {
		return
	}
	select {
	case <-c:
	case <-time.After(5 * time.Second):
	}
}

// checkWaitProtocol checks that the podctl-wait at path takes the
// arguments this podctl gives it: once this process has become it, there
// is no way back.
func checkWaitProtocol(path string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	pid, err := syscall.ForkExec(path, []string{kit.WaitBinary, "--protocol"}, &syscall.ProcAttr{Files: []uintptr{^uintptr(0), w.Fd(), ^uintptr(0)}})
	w.Close()
	if err != nil {
		return fmt.Errorf("running %s: %w", path, err)
	}
	// A program that does not answer at once is not podctl-wait.
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
			break
		}
	}
	if got := strings.TrimSpace(string(buf[:n])); got != waitProtocol || !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("%s speaks %q, not %s", path, got, waitProtocol)
	}
	return nil
}

// waitArgs are podctl-wait's arguments (cmd/podctl-wait).
// title is the command line podctl-wait shows, this process's own.
func waitArgs(path string, initPid, exe, lock int, next time.Duration, state string, title, sample, end []string) []string {
	args := []string{path, waitProtocol, strconv.Itoa(initPid), strconv.Itoa(exe), strconv.Itoa(lock),
		strconv.FormatInt(next.Milliseconds(), 10), state, strconv.Itoa(len(title))}
	args = append(args, title...)
	args = append(args, strconv.Itoa(len(sample)))
	args = append(args, sample...)
	return append(args, end...)
}

// usageArgs is the command that takes a usage sample of the pod
// (sampleMain), but for the sampler's state.
func usageArgs(rc *stage1.RunContext, pod *kit.Pod) []string {
	args := []string{"podctl", stage1.Verb, helperSample, "--file=" + rc.Pod.FilePath(lifecycle.FileStats)}
	for _, d := range pod.Group.Dirs {
		args = append(args, "--cgroup="+d)
	}
	for _, a := range pod.AppNames() {
		args = append(args, "--app="+a)
	}
	return args
}

// endArgs is the command that ends the pod (endMain), but for the init's
// wait status.
func endArgs(rc *stage1.RunContext, pod *kit.Pod, pn *kit.PodNetwork) []string {
	args := []string{"podctl", stage1.Verb, helperEnd, "--pod=" + rc.Pod.Path()}
	for _, d := range pod.Group.Dirs {
		args = append(args, "--cgroup="+d)
	}
	if pn.Private() {
		args = append(args, "--network")
	}
	return args
}

// handoverArgs are the arguments of a hand-over helper: its options, and
// what podctl-wait adds last.
type handoverArgs struct {
	file, pod string
	cgroups   []string
	apps      []string
	network   bool
	last      string
}

// parseHandoverArgs parses the arguments podctl-wait gives a hand-over
// helper: options of the form --name=value (or --network), then one
// more.
func parseHandoverArgs(args []string) (handoverArgs, error) {
	var h handoverArgs
	if len(args) == 0 {
		return h, errors.New("missing arguments; this verb is for podctl itself")
	}
	h.last = args[len(args)-1]
	for _, a := range args[:len(args)-1] {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--file":
			h.file = value
		case "--pod":
			h.pod = value
		case "--cgroup":
			h.cgroups = append(h.cgroups, value)
		case "--app":
			h.apps = append(h.apps, value)
		case "--network":
			h.network = true
		default:
			return h, fmt.Errorf("unknown argument %q; this verb is for podctl itself", a)
		}
	}
	return h, nil
}

// sampleMain is `podctl stage1 native-sample --file=F --cgroup=D...
// --app=A... STATE`: it takes one sample of a pod's usage for
// podctl-wait, and writes on its standard output when the next is due, in
// milliseconds, and its state.
func sampleMain(args []string) int {
	h, err := parseHandoverArgs(args)
	if err == nil && h.file == "" {
		err = errors.New("missing --file; this verb is for podctl itself")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl stage1 %s: %v\n", helperSample, err)
		return 2
	}
	next, state, err := stats.SampleOnce(h.file, h.cgroups, h.apps, h.last)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: recording the pod's usage: %v\n", err)
		return 1
	}
	fmt.Printf("%d %s\n", next.Milliseconds(), state)
	return 0
}

// endMain is `podctl stage1 native-end --pod=DIR --cgroup=D... [--network]
// STATUS`: the end of a pod handed over to podctl-wait, once its init has
// ended with wait status STATUS, as stage1 would have ended it (Run): the
// pod's result if the init could not record it, its networks released,
// its cgroups removed. It exits with the pod's exit code.
func endMain(args []string) int {
	// A stop that comes now has nothing left to stop, and must not cut
	// this short (SIGINT and SIGHUP come ignored from podctl-wait).
	signal.Ignore(syscall.SIGTERM)
	trace.Mark("the pod's end")
	h, err := parseHandoverArgs(args)
	status, serr := strconv.Atoi(h.last)
	if err == nil && (serr != nil || h.pod == "") {
		err = errors.New("missing --pod or the init's status; this verb is for podctl itself")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl stage1 %s: %v\n", helperEnd, err)
		return stage1.ExitStartFailed
	}
	ws := syscall.WaitStatus(status)
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	warn := func(err error) { fmt.Fprintf(os.Stderr, "podctl: %v\n", err) }
	p, err := lifecycle.OpenAt(h.pod)
	if err != nil {
		warn(err)
		return code
	}
	defer p.Close()
	if ws.Signaled() {
		lost := fmt.Sprintf("the pod's init was killed by %s, and its apps with it", unix.SignalName(ws.Signal()))
		warn(errors.New(lost))
		code = kit.RecordResult(p, 0, kit.Ending{Lost: lost, LostBy: ws.Signal()}, warn)
	}
	if h.network {
		if err := kit.ReleaseNetworks(p); err != nil {
			warn(err)
		}
	}
	if len(h.cgroups) > 0 {
		if err := kit.EndCgroups(p, &cgroup.Group{Dirs: h.cgroups}); err != nil {
			warn(err)
		}
	}
	trace.Mark("the pod has ended")
	return code
}
