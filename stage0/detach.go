package stage0

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/console"
)

// A detached run is two podctl processes. The caller's `podctl run -d`
// (or `run-prepared -d`) starts itself again with the same arguments, in
// a session of its own, with DetachEnv set: that second process prepares
// (or opens) the pod and becomes its stage1, as a foreground run does,
// and lives on when the caller and its terminal go. The caller waits until the pod is ready, or
// until the second process has failed, and exits.
//
// What passes between them:
//
//	fd 3 (DetachStatusFD)  the detached podctl writes the pod's UUID and a
//	                       newline on it as soon as the pod exists, then
//	                       closes it
//	stdin, stdout          /dev/null
//	stderr                 an unlinked file of the caller's: what the
//	                       detached podctl says until its pod exists, then
//	                       only what it reports (Report: stage1's warnings
//	                       and its error, on a descriptor no app gets), of
//	                       which the caller repeats the last line; the
//	                       rest, the apps' output among it, goes to
//	                       /dev/null
const (
	// DetachEnv marks the detached podctl; its value is DetachStatusFD.
	DetachEnv = "PODCTL_DETACHED"
	// DetachStatusFD is the descriptor the detached podctl writes the
	// pod's UUID on.
	DetachStatusFD = 3
)

// maxDetachedErrors is how much of the detached podctl's stderr is read
// back for its last line.
const maxDetachedErrors = 64 * 1024

// DetachedStartError is why a detached pod did not become ready: the
// detached podctl's exit code and its last line of error.
type DetachedStartError struct {
	Code int
	Msg  string
}

func (e *DetachedStartError) Error() string { return e.Msg }

// RunDetached starts `podctl ARGS...` (a run whose flags have been
// checked) detached, as described above, and returns the pod's UUID once
// the pod is ready. If the pod never becomes ready, the error is a
// *DetachedStartError.
func RunDetached(c Config, self string, args []string) (string, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer devnull.Close()
	errFile, err := os.CreateTemp("", "podctl-detach-*")
	if err != nil {
		return "", fmt.Errorf("making the detached podctl's error file: %w", err)
	}
	defer errFile.Close()
	// Unlinked at once: it lives as long as the two processes have it open.
	if err := os.Remove(errFile.Name()); err != nil {
		return "", fmt.Errorf("making the detached podctl's error file: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("making the detached podctl's status pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), DetachEnv+"="+strconv.Itoa(DetachStatusFD))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errFile
	cmd.ExtraFiles = []*os.File{w} // DetachStatusFD
	// A session of its own: no terminal's hang-up, no signal to the
	// caller's process group, reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return "", fmt.Errorf("starting the detached podctl: %w", err)
	}
	exited := make(chan int, 1)
	go func() {
		cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// As a shell says it, and as run says an app's.
			code = 128 + int(ws.Signal())
		}
		exited <- code
	}()
	id, idErr := readDetachedUUID(r)
	if idErr != nil {
		code := <-exited
		if code == 0 {
			return "", fmt.Errorf("the detached podctl exited without naming its pod: %w", idErr)
		}
		return "", detachedFailure(c, errFile, code, "")
	}
	ready := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { ready <- waitDetachedReady(ctx, c, id) }()
	select {
	case err := <-ready:
		if err == nil {
			return id, nil
		}
		// Never ready: the detached podctl is ending and says why.
		return "", detachedFailure(c, errFile, <-exited, id)
	case code := <-exited:
		cancel()
		if code == 0 || everReady(c, id) {
			// Ready, and done already (the apps were quick).
			return id, nil
		}
		return "", detachedFailure(c, errFile, code, id)
	}
}

// readDetachedUUID reads the UUID line from the status pipe.
func readDetachedUUID(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 128)).ReadString('\n')
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(line)
	// The canonical form only, as a pod directory is named.
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return "", fmt.Errorf("the detached podctl named no pod (%q)", id)
	}
	return id, nil
}

func waitDetachedReady(ctx context.Context, c Config, id string) error {
	p, err := c.OpenPod(id)
	if err != nil {
		return err
	}
	defer p.Close()
	return p.WaitReady(ctx)
}

// everReady tells whether the pod id became ready before it exited.
func everReady(c Config, id string) bool {
	p, err := c.OpenPod(id)
	if err != nil {
		return false
	}
	defer p.Close()
	return p.IsReady()
}

// detachedFailure is the error of a detached podctl that exited with code
// before its pod id (if it got so far) was ready: its last line of error,
// or else why the pod's first app that failed to start did, as stage1
// recorded it (the systemd flavor's apps say it on their own stderr,
// which is not the caller's).
func detachedFailure(c Config, errFile *os.File, code int, id string) error {
	if code == 0 {
		code = stage1.ExitStartFailed
	}
	msg := lastErrorLine(errFile)
	if msg == "" && id != "" {
		msg = appStartFailure(c, id)
	}
	if msg == "" {
		msg = fmt.Sprintf("the detached podctl exited with status %d before its pod was ready", code)
		if id != "" {
			msg += ": see podctl status " + id
		}
	}
	return &DetachedStartError{Code: code, Msg: msg}
}

// appStartFailure says why the first app of pod id that failed to start
// did, from its recorded status; "" if none did.
func appStartFailure(c Config, id string) string {
	p, err := c.OpenPod(id)
	if err != nil {
		return ""
	}
	defer p.Close()
	_, m, err := p.PodManifest()
	if err != nil {
		return ""
	}
	for _, ra := range m.Apps {
		st, err := p.AppStatus(ra.Name.String())
		if err == nil && st.ExitCode == stage1.ExitStartFailed && st.Message != "" {
			// As the other flavors say it: "app NAME: why".
			why := strings.TrimPrefix(st.Message, "the app did not start: ")
			return fmt.Sprintf("app %s: %s", ra.Name, strings.TrimPrefix(why, "app "+ra.Name.String()+": "))
		}
	}
	return ""
}

// lastErrorLine is the last line podctl printed as its own error in
// what the detached podctl wrote to its error file, without its
// "podctl: "; "" if there is none.
func lastErrorLine(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-maxDetachedErrors, 0)
	b := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(b, off)
	return lastPodctlLine(b[:n])
}

// lastPodctlLine is the last line of b that says "podctl: " something,
// without the "podctl: ".
func lastPodctlLine(b []byte) string {
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(lines[i], "podctl: "); ok && strings.TrimSpace(msg) != "" {
			return strings.TrimSpace(msg)
		}
	}
	return ""
}

// Detached is the detached podctl's side of a detached run.
type Detached struct {
	status *os.File
	// errOut is the caller's error file, which stays this podctl's
	// stderr until the pod exists.
	errOut      *os.File
	interactive bool
	// master is the pseudo-terminal's master side of an interactive pod,
	// which its console serves.
	master *os.File
}

// DetachedChild returns the detached side of a detached run if this
// podctl is one (DetachEnv is set), and nil if it is not. A DetachEnv
// that does not come with the caller's pipe is an error: it is podctl's
// own, not a user's.
func DetachedChild() (*Detached, error) {
	v, ok := os.LookupEnv(DetachEnv)
	if !ok {
		return nil, nil
	}
	// Not for the apps, nor for a podctl that this one starts.
	os.Unsetenv(DetachEnv)
	var st unix.Stat_t
	if v != strconv.Itoa(DetachStatusFD) || unix.Fstat(DetachStatusFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, errdefs.New(ErrUsage, "%s is set, and only podctl run --detach sets it for the podctl it starts: unset it", DetachEnv)
	}
	unix.CloseOnExec(DetachStatusFD)
	errFD, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("keeping the caller's error file: %w", err)
	}
	return &Detached{status: os.NewFile(DetachStatusFD, "detach-status"), errOut: os.NewFile(uintptr(errFD), "detach-errors")}, nil
}

// Setup readies the detached podctl before it prepares or opens its pod,
// and returns what is to be called once the pod exists, locked by this
// podctl (PrepareOptions.Created, RunOptions.Locked): the pod then
// reports itself to the caller. With interactive, the pod's single app
// gets a new pseudo-terminal, served to `podctl attach`, instead of the
// caller's (the os.Std* variables that stage1 hands to an interactive app
// name its slave side).
func (d *Detached) Setup(interactive bool) (func(*lifecycle.Pod) error, error) {
	d.interactive = interactive
	if interactive {
		master, slave, err := console.OpenPTY()
		if err != nil {
			return nil, err
		}
		// This podctl leads a session of its own: the terminal becomes
		// its controlling terminal, as a foreground run's is, so that
		// the app's Ctrl-C and job control work the same.
		if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
			master.Close()
			slave.Close()
			return nil, fmt.Errorf("making the pod's terminal this podctl's: %w", err)
		}
		d.master = master
		os.Stdin, os.Stdout, os.Stderr = slave, slave, slave
	}
	return d.created, nil
}

// created is called once the pod exists: it serves the console, leaves
// the caller's working folder for /, tells the caller the pod's UUID, and
// sends this podctl's stderr to /dev/null:
// from now on it would also carry the apps' output (which their logs
// keep), and an app must not be able to write what the caller repeats
// as podctl's error. Report still reaches the caller: stage1's warnings
// and the run's error.
func (d *Detached) created(p *lifecycle.Pod) error {
	if d.interactive {
		ln, err := listenConsole(p)
		if err != nil {
			return err
		}
		console.Serve(d.master, ln)
	}
	// The pod must not keep the caller's folder busy (an unmount of it
	// would fail for as long as the pod runs): every path used from here
	// on (data directory, volumes, secrets, image trees) is absolute.
	if err := os.Chdir("/"); err != nil {
		return err
	}
	devnull, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = unix.Dup3(devnull, 2, 0)
	unix.Close(devnull)
	if err != nil {
		return fmt.Errorf("leaving the caller's error file: %w", err)
	}
	_, err = fmt.Fprintln(d.status, p.UUID)
	d.status.Close()
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("telling the caller the pod's UUID: %w", err)
	}
	// EPIPE: the caller has gone (its session was killed): the pod goes on.
	return nil
}

// Report says err, as podctl's error or warning, where the caller reads
// it (RunOptions.Warn). Once the caller has gone, no one reads it: what a
// running pod warns of is lost, as a foreground run's would be on a
// closed terminal.
func (d *Detached) Report(err error) {
	// Nowhere else to say it if this fails: the caller then says that
	// this podctl exited without a word.
	fmt.Fprintf(d.errOut, "podctl: %v\n", err)
}

// listenConsole makes the console's socket in the pod directory, by way
// of the open directory: its path may be longer than a socket's may be.
func listenConsole(p *lifecycle.Pod) (net.Listener, error) {
	path := fmt.Sprintf("/proc/self/fd/%d/%s", p.LockFile().Fd(), lifecycle.FileConsole)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("making the pod's console socket: %w", err)
	}
	// Root's only, as its folder is: connecting needs write permission.
	if err := unix.Fchmodat(int(p.LockFile().Fd()), lifecycle.FileConsole, 0o600, 0); err != nil {
		ln.Close()
		return nil, fmt.Errorf("making the pod's console socket: %w", err)
	}
	// The socket goes with the pod directory; unlinking it through a
	// descriptor that may be gone by then would be no better.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}
