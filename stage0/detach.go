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

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/console"
)

// A detached run is two podctl processes. The caller's `podctl run -d`
// starts `podctl run` again with the same arguments, in a session of its
// own, with DetachEnv set: that second process prepares the pod and
// becomes its stage1, as a foreground run does, and lives on when the
// caller and its terminal go. The caller waits until the pod is ready, or
// until the second process has failed, and exits.
//
// What passes between them:
//
//	fd 3 (DetachStatusFD)  the detached podctl writes the pod's UUID and a
//	                       newline on it as soon as the pod exists, then
//	                       closes it
//	stdin, stdout          /dev/null
//	stderr                 an unlinked file of the caller's: the detached
//	                       podctl's errors until the pod is ready, of which
//	                       the caller repeats the last; then /dev/null
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
		exited <- cmd.ProcessState.ExitCode()
	}()
	id, idErr := readDetachedUUID(r)
	if idErr != nil {
		code := <-exited
		if code == 0 {
			return "", fmt.Errorf("the detached podctl exited without naming its pod: %w", idErr)
		}
		return "", detachedFailure(errFile, code, "")
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
		return "", detachedFailure(errFile, <-exited, id)
	case code := <-exited:
		cancel()
		if code == 0 || everReady(c, id) {
			// Ready, and done already (the apps were quick).
			return id, nil
		}
		return "", detachedFailure(errFile, code, id)
	}
}

// readDetachedUUID reads the UUID line from the status pipe.
func readDetachedUUID(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 128)).ReadString('\n')
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(line)
	if _, err := uuid.Parse(id); err != nil {
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
// before its pod was ready: its last line of error.
func detachedFailure(errFile *os.File, code int, id string) error {
	if code == 0 {
		code = stage1.ExitStartFailed
	}
	msg := lastErrorLine(errFile)
	if msg == "" {
		msg = fmt.Sprintf("the detached podctl exited with status %d before its pod was ready", code)
		if id != "" {
			msg += ": see podctl status " + id
		}
	}
	return &DetachedStartError{Code: code, Msg: msg}
}

// lastErrorLine is the last line podctl printed as its own error (the
// detached podctl's stderr also has what its apps wrote before the pod
// was ready), without its "podctl: ".
func lastErrorLine(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := fi.Size() - maxDetachedErrors
	if off < 0 {
		off = 0
	}
	b := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(b, off)
	lines := strings.Split(string(b[:n]), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(lines[i], "podctl: "); ok && strings.TrimSpace(msg) != "" {
			return msg
		}
	}
	return ""
}

// Detached is the detached podctl's side of a detached run.
type Detached struct {
	status      *os.File
	interactive bool
	// master is the pseudo-terminal's master side of an interactive pod,
	// which its console serves.
	master *os.File
}

// DetachedChild returns the detached side of a detached run if this
// podctl is one (DetachEnv is set and DetachStatusFD is the caller's
// pipe), and nil otherwise.
func DetachedChild() *Detached {
	v, ok := os.LookupEnv(DetachEnv)
	if !ok {
		return nil
	}
	// Not for the apps, nor for a podctl that this one starts.
	os.Unsetenv(DetachEnv)
	if v != strconv.Itoa(DetachStatusFD) {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(DetachStatusFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	unix.CloseOnExec(DetachStatusFD)
	return &Detached{status: os.NewFile(DetachStatusFD, "detach-status")}
}

// Setup readies the detached podctl before it prepares its pod: the pod
// will report itself to the caller once it exists, and with interactive
// its single app gets a new pseudo-terminal, served to `podctl attach`,
// instead of the caller's (the os.Std* variables that stage1 hands to an
// interactive app name its slave side).
func (d *Detached) Setup(opts *PrepareOptions, interactive bool) error {
	d.interactive = interactive
	if interactive {
		master, slave, err := console.OpenPTY()
		if err != nil {
			return err
		}
		// This podctl leads a session of its own: the terminal becomes
		// its controlling terminal, as a foreground run's is, so that
		// the app's Ctrl-C and job control work the same.
		if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
			master.Close()
			slave.Close()
			return fmt.Errorf("making the pod's terminal this podctl's: %w", err)
		}
		d.master = master
		os.Stdin, os.Stdout, os.Stderr = slave, slave, slave
	}
	opts.Created = d.created
	return nil
}

// created is called once the pod exists: it serves the console, tells
// the caller the pod's UUID, and quiets this podctl's stderr once the
// pod is ready (the caller has gone then, and the apps' output is in
// their logs).
func (d *Detached) created(p *lifecycle.Pod) error {
	if d.interactive {
		ln, err := listenConsole(p)
		if err != nil {
			return err
		}
		console.Serve(d.master, ln)
	}
	_, err := fmt.Fprintln(d.status, p.UUID)
	d.status.Close()
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("telling the caller the pod's UUID: %w", err)
	}
	// EPIPE: the caller has gone (its session was killed): the pod goes on.
	go d.quietWhenReady(p.DataDir(), p.UUID)
	return nil
}

// listenConsole makes the console's socket in the pod directory, by way
// of the open directory: its path may be longer than a socket's may be.
func listenConsole(p *lifecycle.Pod) (net.Listener, error) {
	path := fmt.Sprintf("/proc/self/fd/%d/%s", p.LockFile().Fd(), lifecycle.FileConsole)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("making the pod's console socket: %w", err)
	}
	// The socket goes with the pod directory; unlinking it through a
	// descriptor that may be gone by then would be no better.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

func (d *Detached) quietWhenReady(dataDir, id string) {
	p, err := lifecycle.PodFromUUIDString(dataDir, id)
	if err != nil {
		// Gone already: so is this podctl, soon.
		return
	}
	defer p.Close()
	if p.WaitReady(context.Background()) != nil {
		// Not ready: this podctl's error is still for the caller.
		return
	}
	fd, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		// Nobody to tell: the caller has gone. The error file keeps
		// growing with the apps' stderr, unseen, until the pod ends.
		return
	}
	unix.Dup3(fd, 2, 0)
	unix.Close(fd)
}
