package kit

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestStartChildDescriptors checks where a raw child's descriptors land:
// its streams (nil is /dev/null), the error pipe at 3, the rest from 4.
func TestStartChildDescriptors(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	extra, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	// The child names what each descriptor is, then closes the error
	// pipe by executing true: the pipe reads empty.
	script := `for fd in 0 3 4; do readlink /proc/self/fd/$fd; done; exec 3>&-; exec true`
	c, status, err := StartChild(ChildSpec{
		Path:  "/bin/sh",
		Args:  []string{"sh", "-c", script},
		Files: []*os.File{nil, out, out, extra},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitErrPipe(status, func() { c.Wait() }); err != nil {
		t.Fatalf("WaitErrPipe: %v", err)
	}
	if ws := c.Wait(); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child ended with %v", ws)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != os.DevNull || !strings.HasPrefix(lines[1], "pipe:") || !strings.HasPrefix(lines[2], "/proc/") {
		t.Fatalf("descriptors 0, 3 and 4 were %q; want /dev/null, the error pipe, the extra file", lines)
	}
}

// TestStartChildReports checks that a child's line on the error pipe is
// WaitErrPipe's error, with the child reaped, and that a reaped child is
// never signalled.
func TestStartChildReports(t *testing.T) {
	c, status, err := StartChild(ChildSpec{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", "echo 'app x: no such thing' >&3; exit 1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = WaitErrPipe(status, func() { c.Wait() })
	if err == nil || err.Error() != "app x: no such thing" {
		t.Fatalf("WaitErrPipe = %v; want the child's line", err)
	}
	ws, ended := c.Status()
	if !ended || ws.ExitStatus() != 1 {
		t.Fatalf("Status = %v, %t; want exit status 1, reaped", ws, ended)
	}
	if err := c.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Signal after Wait = %v; want os.ErrProcessDone", err)
	}
}

// TestStartChildSignal checks that a running child is signalled, and
// that Wait says how it ended.
func TestStartChildSignal(t *testing.T) {
	c, status, err := StartChild(ChildSpec{Path: "/bin/sleep", Args: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer status.Close()
	if _, ended := c.Status(); ended {
		t.Fatal("Status says a running child ended")
	}
	if err := c.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ws := c.Wait(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("Wait = %v; want killed by SIGTERM", ws)
	}
	if ws := c.Wait(); ws.Signal() != syscall.SIGTERM {
		t.Fatalf("a second Wait = %v; want the same", ws)
	}
}

// TestStartChildMissing checks that a path that cannot be executed is
// StartChild's error, with nothing left running.
func TestStartChildMissing(t *testing.T) {
	_, _, err := StartChild(ChildSpec{Path: "/nonexistent/podctl", Args: []string{"x"}})
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("StartChild = %v; want ENOENT", err)
	}
}

// TestStartChildLost checks that a child another wait took has no exit
// status, rather than a made-up 0.
func TestStartChildLost(t *testing.T) {
	c, status, err := StartChild(ChildSpec{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 7"}})
	if err != nil {
		t.Fatal(err)
	}
	status.Close()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(c.Pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 7 {
		t.Fatalf("reaping it ourselves: %v, %v", ws, err)
	}
	c.Wait()
	if _, ended := c.Status(); ended {
		t.Fatal("Status gives an exit status for a child whose reap failed")
	}
}
