package appexec

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Socket activation of an app's socketActivated ports, the way systemd
// passes sockets to a service: the helper that becomes the app opens each
// listening socket in the pod's network namespace, while it still has
// root's privileges (a port below 1024 needs them), and hands them to the
// app as descriptors 3, 4, ..., with LISTEN_FDS (their number), LISTEN_PID
// (the app's pid: the helper's own, since it executes the app) and
// LISTEN_FDNAMES (the ports' names, ":"-separated). A port with a count
// above 1 gives one socket per number. Every flavor does the same: fly's
// sockets are in the host's network namespace, as fly's apps are.

// SocketPort is one socketActivated port of an app's image.
type SocketPort struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     uint   `json:"port"`
	Count    uint   `json:"count,omitempty"`
}

// listenFDsStart is the first descriptor of the passed sockets
// (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// openSockets opens the app's sockets, close-on-exec, and returns them
// with their names.
func openSockets(ports []SocketPort) (fds []int, names []string, err error) {
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}()
	for _, p := range ports {
		for i := uint(0); i < max(p.Count, 1); i++ {
			fd, err := listenOn(p.Protocol, int(p.Port+i))
			if err != nil {
				return fds, nil, fmt.Errorf("opening socket-activated port %s (%s %d): %w", p.Name, p.Protocol, p.Port+i, err)
			}
			fds = append(fds, fd)
			names = append(names, p.Name)
		}
	}
	return fds, names, nil
}

// listenOn opens a socket bound to port on every address, IPv6 and IPv4
// where the namespace has IPv6, IPv4 alone where not.
func listenOn(protocol string, port int) (int, error) {
	typ := unix.SOCK_STREAM
	if protocol == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET6, typ|unix.SOCK_CLOEXEC, 0)
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: port}
	if err == nil {
		if err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		if fd, err = unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0); err != nil {
			return -1, err
		}
		sa = &unix.SockaddrInet4{Port: port}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if typ == unix.SOCK_STREAM {
		if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// listenEnv is env, for an app given sockets of names, without any
// variable of the protocol and with those telling the app its sockets.
func listenEnv(env []string, names []string) []string {
	if len(names) == 0 {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k != "LISTEN_FDS" && k != "LISTEN_PID" && k != "LISTEN_FDNAMES" {
			out = append(out, kv)
		}
	}
	return append(out, "LISTEN_FDS="+strconv.Itoa(len(names)), "LISTEN_PID="+strconv.Itoa(os.Getpid()),
		"LISTEN_FDNAMES="+strings.Join(names, ":"))
}

// passSockets puts the sockets at descriptors 3, 4, ..., the only ones
// the app inherits, and moves the error pipe (if the helper has one) above
// them. It runs last before the exec: the descriptors it overwrites are
// close-on-exec ones of the helper's, which nothing uses any more.
func passSockets(fds []int) error {
	n := len(fds)
	if n == 0 {
		return nil
	}
	above := listenFDsStart + n
	moved, err := unix.FcntlInt(uintptr(ErrPipeFD), unix.F_DUPFD_CLOEXEC, above)
	switch {
	case err == nil:
		errPipeFD = moved
	case !errors.Is(err, unix.EBADF):
		return fmt.Errorf("moving the error pipe: %w", err)
	}
	// First every socket above the range, so that none is overwritten by
	// another's move.
	high := make([]int, n)
	for i, fd := range fds {
		h, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, above)
		if err != nil {
			return fmt.Errorf("passing sockets: %w", err)
		}
		unix.Close(fd)
		high[i] = h
	}
	for i, h := range high {
		// Without O_CLOEXEC: the app inherits it.
		if err := unix.Dup3(h, listenFDsStart+i, 0); err != nil {
			return fmt.Errorf("passing sockets: %w", err)
		}
		unix.Close(h)
	}
	return nil
}
