package kit

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"
)

func TestSocketPorts(t *testing.T) {
	app := &types.App{Ports: []types.Port{
		{Name: "www", Protocol: "tcp", Port: 80, SocketActivated: true},
		{Name: "plain", Protocol: "tcp", Port: 81},
		{Name: "dns", Protocol: "udp", Port: 53, Count: 2, SocketActivated: true},
	}}
	got, err := socketPorts(app)
	if err != nil {
		t.Fatal(err)
	}
	want := []SocketPort{{"www", "tcp", 80, 1}, {"dns", "udp", 53, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []types.Port{
		{Name: "x", Protocol: "sctp", Port: 1, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: 0, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: 65535, Count: 2, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: 1000, Count: maxSockets + 1, SocketActivated: true},
		{Name: "x", Protocol: "tcp", Port: ^uint(0), Count: 2, SocketActivated: true},
	} {
		if _, err := socketPorts(&types.App{Ports: []types.Port{bad}}); err == nil {
			t.Errorf("port %+v taken", bad)
		}
	}
	// A count that wraps the sums around (appc's own check wraps too)
	// is no small range.
	wrap := []types.Port{
		{Name: "x", Protocol: "tcp", Port: 10, SocketActivated: true},
		{Name: "y", Protocol: "tcp", Port: 10, Count: ^uint(0), SocketActivated: true},
	}
	if got, err := socketPorts(&types.App{Ports: wrap}); err == nil {
		t.Errorf("ports of a wrapping count taken: %+v", got)
	}
}

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

// FuzzSocketPorts: an image's ports, whatever their numbers and counts,
// give at most maxSockets sockets, each on a port number.
func FuzzSocketPorts(f *testing.F) {
	f.Add(uint(80), uint(1), uint(53), uint(2))
	f.Add(uint(10), uint(1), uint(10), ^uint(0))
	f.Fuzz(func(t *testing.T, port1, count1, port2, count2 uint) {
		app := &types.App{Ports: []types.Port{
			{Name: "a", Protocol: "tcp", Port: port1, Count: count1, SocketActivated: true},
			{Name: "b", Protocol: "udp", Port: port2, Count: count2, SocketActivated: true},
		}}
		ports, err := socketPorts(app)
		if err != nil {
			return
		}
		total := 0
		for _, p := range ports {
			if p.Count > maxSockets || p.Port == 0 || p.Port+p.Count-1 > 65535 {
				t.Fatalf("port %+v taken", p)
			}
			total += int(p.Count)
		}
		if total > maxSockets {
			t.Fatalf("%d sockets taken: %+v", total, ports)
		}
	})
}
