package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	sockactOnce sync.Once
	sockactBin  []byte
	sockactErr  error
)

// sockact builds testdata/sockact, the socket-activated app, once.
func sockact(t *testing.T) []byte {
	t.Helper()
	sockactOnce.Do(func() {
		dir, err := os.MkdirTemp("", "podctl-sockact-")
		if err != nil {
			sockactErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "sockact")
		if sockactErr = buildStatic(out, "./testdata/sockact"); sockactErr == nil {
			sockactBin, sockactErr = os.ReadFile(out)
		}
	})
	if sockactErr != nil {
		t.Fatalf("building testdata/sockact: %v", sockactErr)
	}
	return sockactBin
}

// freeUDPPort is a UDP port free on 127.0.0.1 now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// An image's socketActivated ports are opened by stage1 and given to the
// app, in every flavor, as systemd gives a service its sockets: from
// descriptor 3, with LISTEN_FDS, LISTEN_PID (the app's own pid) and
// LISTEN_FDNAMES; the app, not root, serves on them.
func TestSocketActivation(t *testing.T) { forEachFlavor(t, testSocketActivation) }

func testSocketActivation(t *testing.T, e *env) {
	tcpPort, udpPort := freePort(t), freeUDPPort(t)
	app := fmt.Sprintf(`{"exec":["/bin/sockact"],"user":"65534","group":"65534",
"ports":[{"name":"www","protocol":"tcp","port":%d,"socketActivated":true},
{"name":"dns","protocol":"udp","port":%d,"socketActivated":true},
{"name":"plain","protocol":"tcp","port":1}]}`, tcpPort, udpPort)
	aci := filepath.Join(t.TempDir(), "sockact.aci")
	writeCustomACI(t, aci, "example.com/sockact", "1.0", app, map[string][]byte{"bin/sockact": sockact(t)})
	e.must("fetch", "--insecure-options=image", aci)

	args := []string{"run", "example.com/sockact"}
	if e.flavor != "fly" {
		args = []string{"run", "--net=host", "example.com/sockact"}
	}
	cmd := e.command(args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The socket listens from the app's start on: until then, dialing is
	// refused.
	var conn net.Conn
	deadline := time.Now().Add(60 * time.Second)
	for conn == nil {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
		if err == nil {
			conn = c
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the pod ended before its socket took a connection: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("port %d never took a connection: %v", tcpPort, err)
		}
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the app's answer: %v", err)
	}
	if want := "fds=2 names=www:dns pid-ok=true"; strings.TrimSpace(line) != want {
		t.Errorf("the app says %q, want %q", line, want)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the pod did not end after its app answered")
	}
}

// A port that cannot be opened keeps the app from starting, in one line.
func TestSocketActivationRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	busy, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	app := fmt.Sprintf(`{"exec":["/bin/sockact"],"user":"0","group":"0","ports":[{"name":"www","protocol":"tcp","port":%d,"socketActivated":true}]}`, port)
	aci := filepath.Join(t.TempDir(), "sockact.aci")
	writeCustomACI(t, aci, "example.com/sockact", "1.0", app, map[string][]byte{"bin/sockact": sockact(t)})
	e.must("fetch", "--insecure-options=image", aci)
	r := e.podctl("run", "--net=host", "example.com/sockact")
	checkNoPanic(t, "run", r)
	if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("opening socket-activated port www (tcp %d)", port)) || !strings.Contains(r.stderr, "address already in use") {
		t.Fatalf("want the app refused for its busy port: %s", r)
	}
}
