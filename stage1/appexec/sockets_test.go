package appexec

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestListenEnv(t *testing.T) {
	env := []string{"A=1", "LISTEN_FDS=9", "LISTEN_PIDX=keep"}
	if got := listenEnv(env, nil); !reflect.DeepEqual(got, env) {
		t.Errorf("without sockets the environment changed: %q", got)
	}
	got := listenEnv(env, []string{"www", "dns"})
	want := []string{"A=1", "LISTEN_PIDX=keep", "LISTEN_FDS=2", "LISTEN_PID=" + strconv.Itoa(unix.Getpid()), "LISTEN_FDNAMES=www:dns"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// openSockets opens listening sockets; a port in use is an error naming
// it, and leaves no socket open.
func TestOpenSockets(t *testing.T) {
	// Port 0 binds an ephemeral port: what matters is the kind of socket.
	fds, names, err := openSockets([]SocketPort{{Name: "a", Protocol: "tcp", Port: 0}, {Name: "b", Protocol: "udp", Port: 0}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if len(fds) != 2 || !reflect.DeepEqual(names, []string{"a", "b"}) {
		t.Fatalf("fds %v names %q", fds, names)
	}
	for i, want := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
		typ, err := unix.GetsockoptInt(fds[i], unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil || typ != want {
			t.Errorf("socket %d has type %d (%v), want %d", i, typ, err, want)
		}
		if flags, _ := unix.FcntlInt(uintptr(fds[i]), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("socket %d is not close-on-exec before it is passed", i)
		}
	}
	sa, err := unix.Getsockname(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	var port int
	switch a := sa.(type) {
	case *unix.SockaddrInet6:
		port = a.Port
	case *unix.SockaddrInet4:
		port = a.Port
	}
	_, _, err = openSockets([]SocketPort{{Name: "busy", Protocol: "tcp", Port: uint(port)}})
	if err == nil || !strings.Contains(err.Error(), "busy (tcp "+strconv.Itoa(port)+")") {
		t.Errorf("a port in use: %v", err)
	}
}
