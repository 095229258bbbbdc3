package seccomp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"podctl/stage1/seccomp/custom"
	"podctl/stage1/seccomp/profile"
)

// The tests run the test binary again as a child (helperEnv names what the
// child does), since a seccomp filter and no_new_privs cannot be taken off
// the process that has them.
const helperEnv = "PODCTL_SECCOMP_HELPER"

const busybox = "/bin/busybox"

// nobody is the user the setuid test runs as.
const nobody = 65534

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		// Every check runs on this thread: the filter is on it alone.
		runtime.LockOSThread()
		if err := helper(mode); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// probe is a system call tried under the filter and without it. A refused
// call gets want under the filter and something else without it, so the
// test cannot pass because the kernel refused the call for its own reasons.
type probe struct {
	name    string
	call    func() unix.Errno
	want    unix.Errno
	allowed bool // the filter lets it through: same result with and without
}

func probes() []probe {
	cstr := func(s string) uintptr {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			panic(err)
		}
		return uintptr(unsafe.Pointer(p))
	}
	raw := func(nr uintptr, args ...uintptr) func() unix.Errno {
		var a [6]uintptr
		copy(a[:], args)
		return func() unix.Errno {
			_, _, e := unix.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
			return e
		}
	}
	socket := func(family uint64) func() unix.Errno {
		return func() unix.Errno {
			fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM, 0)
			if e == 0 {
				unix.Close(int(fd))
			}
			return e
		}
	}
	// ioctl on /dev/null: ENOTTY without the filter, whatever the request.
	ioctl := func(req uint64) func() unix.Errno {
		return func() unix.Errno {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err.(unix.Errno)
			}
			defer unix.Close(fd)
			_, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), 0)
			return e
		}
	}
	const keySpecSessionKeyring = ^uintptr(2) // -3
	const addrNoRandomize = 0x0040000         // personality(2)
	return []probe{
		// A multithreaded process may not unshare its user namespace:
		// EINVAL without the filter.
		{name: "unshare newuser", call: raw(unix.SYS_UNSHARE, unix.CLONE_NEWUSER), want: unix.EPERM},
		// CLONE_NEWUSER with CLONE_FS is invalid, so nothing forks
		// without the filter either.
		{name: "clone newuser", call: raw(unix.SYS_CLONE, unix.CLONE_NEWUSER|unix.CLONE_FS), want: unix.EPERM},
		{name: "clone3", call: raw(unix.SYS_CLONE3, 0, 0), want: unix.ENOSYS},
		{name: "mount", call: raw(unix.SYS_MOUNT, cstr("none"), cstr("/nonexistent/podctl"), cstr("tmpfs"), 0, 0), want: unix.EPERM},
		{name: "umount2", call: raw(unix.SYS_UMOUNT2, cstr("/nonexistent/podctl"), 0), want: unix.EPERM},
		{name: "setns", call: raw(unix.SYS_SETNS, ^uintptr(0), 0), want: unix.EPERM},
		{name: "keyctl", call: raw(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, keySpecSessionKeyring, 0), want: unix.EPERM},
		{name: "add_key", call: raw(unix.SYS_ADD_KEY, cstr("user"), 0, 0, 0, 0), want: unix.EPERM},
		{name: "bpf", call: raw(unix.SYS_BPF, 0, 0, 0), want: unix.EPERM},
		{name: "perf_event_open", call: raw(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0), want: unix.EPERM},
		{name: "open_by_handle_at", call: raw(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0), want: unix.EPERM},
		{name: "userfaultfd", call: raw(unix.SYS_USERFAULTFD, 0xffff), want: unix.EPERM},
		{name: "socket vsock", call: socket(unix.AF_VSOCK), want: unix.EPERM},
		{name: "socket vsock high bits", call: socket(1<<32 | unix.AF_VSOCK), want: unix.EPERM},
		{name: "personality no randomize", call: raw(unix.SYS_PERSONALITY, addrNoRandomize), want: unix.EPERM},

		{name: "ioctl TIOCSTI", call: ioctl(unix.TIOCSTI), want: unix.EPERM},
		{name: "ioctl TIOCLINUX", call: ioctl(unix.TIOCLINUX), want: unix.EPERM},
		{name: "ioctl TIOCSTI high bits", call: ioctl(1<<32 | unix.TIOCSTI), want: unix.EPERM},

		{name: "getpid", call: raw(unix.SYS_GETPID), allowed: true},
		{name: "ioctl TCGETS", call: ioctl(unix.TCGETS), want: unix.ENOTTY, allowed: true},
		{name: "personality query", call: raw(unix.SYS_PERSONALITY, 0xffffffff), allowed: true},
		{name: "socket unix", call: socket(unix.AF_UNIX), allowed: true},
		{name: "socket inet", call: socket(unix.AF_INET), allowed: true},
		// Not tracing pid 1: ESRCH when ptrace is allowed, as the profile
		// does on Linux 4.8 and later.
		{name: "ptrace", call: raw(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 1, 0, 0), want: unix.ESRCH, allowed: true},
		{name: "chroot", call: raw(unix.SYS_CHROOT, cstr("/nonexistent/podctl")), want: unix.ENOENT, allowed: true},
	}
}

// report is what a probing child prints.
type report struct {
	Errnos  map[string]unix.Errno
	Outputs map[string]string // command: combined output, or the error
	LoadNS  int64
}

// helper does in the child what mode says.
func helper(mode string) error {
	switch mode {
	case "probe", "baseline":
		return probeHelper(mode == "probe")
	case "setuid", "setuid-baseline":
		return setuidHelper(mode == "setuid")
	case "euid":
		fmt.Println(os.Geteuid())
		return nil
	case "goprog":
		return goProgram()
	case "retain-yield":
		return retainYield()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func probeHelper(filtered bool) error {
	r := report{Errnos: map[string]unix.Errno{}, Outputs: map[string]string{}}
	if filtered {
		start := time.Now()
		if err := Load(); err != nil {
			return err
		}
		r.LoadNS = int64(time.Since(start))
	}
	for _, p := range probes() {
		r.Errnos[p.name] = p.call()
	}
	if filtered {
		// os/exec forks from this goroutine's thread, which carries the
		// filter; the children inherit it.
		self, err := os.Executable()
		if err != nil {
			return err
		}
		commands := map[string][]string{
			"true":   {busybox, "true"},
			"sh":     {busybox, "sh", "-c", "echo ok"},
			"status": {busybox, "cat", "/proc/self/status"},
			// A glibc program starting a thread: glibc tries clone3 first.
			"python": {"python3", "-c", "import threading; t = threading.Thread(target=print, args=('ok',)); t.start(); t.join()"},
			"ls":     {"ls", "-d", "/"},
			"go":     {self},
		}
		for name, argv := range commands {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = helperEnviron("goprog")
			out, err := cmd.CombinedOutput()
			r.Outputs[name] = string(out)
			if err != nil {
				r.Outputs[name] += "error: " + err.Error()
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// retainYield installs a retain set that names getpid alone on
// this thread, then yields it, three times: a goroutine locked to its
// thread hands its P over and waits with futex, on this thread, as when
// the runtime preempts the exec helper between the filter and the execve.
func retainYield() error {
	c := &custom.Custom{Mode: custom.ModeRetain, Errno: "ENOSYS", Syscalls: []string{"getpid"}}
	prog, err := profile.CustomProgram(c, TracingSafe())
	if err != nil {
		return err
	}
	if err := LoadCustom(c, prog, true); err != nil {
		return err
	}
	for range 3 {
		runtime.Gosched()
	}
	return nil
}

// goProgram is a Go program started under the filter: it starts threads
// and a child process, the way Go programs do.
func goProgram() error {
	done := make(chan error)
	for range 4 {
		go func() {
			// A locked goroutine makes the runtime start more threads.
			runtime.LockOSThread()
			done <- exec.Command(busybox, "true").Run()
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			return err
		}
	}
	fmt.Println("ok")
	return nil
}

// setuidHelper becomes nobody and executes the setuid-root program named
// by $PODCTL_SECCOMP_SUID, with the filter or without.
func setuidHelper(filtered bool) error {
	if err := unix.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setresgid(nobody, nobody, nobody); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := unix.Setresuid(nobody, nobody, nobody); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	if filtered {
		if err := Load(); err != nil {
			return err
		}
	}
	prog := os.Getenv("PODCTL_SECCOMP_SUID")
	err := unix.Exec(prog, []string{prog}, helperEnviron("euid"))
	return fmt.Errorf("executing %s: %w", prog, err)
}

// helperEnviron is this process's environment with the helper's mode set
// to mode, once: execve keeps duplicates, and getenv reads the first.
func helperEnviron(mode string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, helperEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, helperEnv+"="+mode)
}

// runHelper runs the test binary in mode and returns its standard output.
func runHelper(t *testing.T, mode string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(helperEnviron(mode), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v\n%s%s", mode, err, out, stderr.Bytes())
	}
	return out
}

// A retain set keeps what the exec helper's Go runtime may call on its
// thread between the filter and the execve: yielding there crashed it
// with futex refused (custom.AlwaysRetained).
func TestRetainSurvivesYield(t *testing.T) {
	needRoot(t)
	runHelper(t, "retain-yield")
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("these tests run as root")
	}
}

func TestLoad(t *testing.T) {
	needRoot(t)
	var filtered, baseline report
	if err := json.Unmarshal(runHelper(t, "probe"), &filtered); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(runHelper(t, "baseline"), &baseline); err != nil {
		t.Fatal(err)
	}
	t.Logf("Load took %v", time.Duration(filtered.LoadNS))

	for _, p := range probes() {
		got, without := filtered.Errnos[p.name], baseline.Errnos[p.name]
		switch {
		case p.allowed && (got != p.want || without != p.want):
			t.Errorf("%s: %v under the filter, %v without, want %v for both", p.name, errName(got), errName(without), errName(p.want))
		case !p.allowed && got != p.want:
			t.Errorf("%s: %v under the filter, want %v", p.name, errName(got), errName(p.want))
		case !p.allowed && without == p.want:
			t.Errorf("%s: %v without the filter too: the probe proves nothing", p.name, errName(without))
		}
	}

	wantOut := map[string]string{"true": "", "sh": "ok\n", "python": "ok\n", "ls": "/\n", "go": "ok\n"}
	for name, want := range wantOut {
		if got := filtered.Outputs[name]; got != want {
			t.Errorf("%s under the filter: output %q, want %q", name, got, want)
		}
	}
	status := filtered.Outputs["status"]
	for _, line := range []string{"NoNewPrivs:\t1\n", "Seccomp:\t2\n"} {
		if !strings.Contains(status, line) {
			t.Errorf("/proc/self/status of a program under the filter lacks %q:\n%s", line, status)
		}
	}
}

// TestNoNewPrivs checks that a setuid-root program executed by nobody under
// the filter stays nobody, and that without the filter it would be root.
func TestNoNewPrivs(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp("", "seccomp-suid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(dir, "suid")
	if err := copyFile(os.Args[0], suid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(suid, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	env := "PODCTL_SECCOMP_SUID=" + suid
	euid := func(mode string) int {
		out := strings.TrimSpace(string(runHelper(t, mode, env)))
		n, err := strconv.Atoi(out)
		if err != nil {
			t.Fatalf("helper %s: %q is not a uid", mode, out)
		}
		return n
	}
	if got := euid("setuid-baseline"); got != 0 {
		t.Fatalf("without the filter, the setuid-root program runs as %d, not 0: setuid does not work in %s", got, dir)
	}
	if got := euid("setuid"); got != nobody {
		t.Errorf("under the filter, the setuid-root program runs as %d, want %d", got, nobody)
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func errName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	return unix.ErrnoName(e)
}
