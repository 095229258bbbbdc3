// Package console is the terminal of a detached interactive pod: a
// pseudo-terminal whose slave side is the app's terminal and whose master
// side stage1 keeps, and the unix socket through which `podctl attach`
// reaches it.
//
// The protocol on the socket (protocol.go) is a header line from the
// client, with its terminal's size, then the terminal itself, raw bytes
// both ways: what a client writes is typed into the terminal, and what the
// app shows is written to every client connected. A client that connects first gets
// the last Backlog bytes the terminal showed, so that it sees the prompt
// it is attaching to. The socket lives in the pod directory (lifecycle.
// FileConsole), which no app can reach; only root can connect to it.
package console

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Backlog is how much of what the terminal showed a new client gets.
const Backlog = 64 * 1024

// clientWriteTimeout is how long a client may take to accept output
// before it is dropped: one stuck client must not stop the app's output,
// nor the others'.
const clientWriteTimeout = 5 * time.Second

// OpenPTY makes a new pseudo-terminal of 24 rows and 80 columns and
// returns its master and slave sides. The slave is opened without
// becoming anyone's controlling terminal: the caller decides.
func OpenPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening a pseudo-terminal: %w", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking the pseudo-terminal: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, so that no other
	// devpts instance's /dev/pts/N can be swapped in by name.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	err = nil
	if errno != 0 {
		var n int
		n, err = openSlaveByName(fd)
		sfd = uintptr(n)
	}
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening the pseudo-terminal's slave: %w", err)
	}
	slave = os.NewFile(sfd, "/dev/pts/console")
	if err := unix.IoctlSetWinsize(int(sfd), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("sizing the pseudo-terminal: %w", err)
	}
	return master, slave, nil
}

// openSlaveByName is for kernels before 4.13, without TIOCGPTPEER.
func openSlaveByName(master int) (int, error) {
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return -1, err
	}
	return unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
}

// Server relays a terminal's master side to the clients of a listener.
type Server struct {
	master *os.File
	ln     net.Listener

	mu      sync.Mutex
	backlog []byte
	clients map[net.Conn]bool
	done    chan struct{}
}

// Serve relays master to the clients of ln until master ends (no process
// has the terminal open any more) or Close is called. It always reads the
// master side, with or without clients, so that the app never blocks on a
// full terminal.
func Serve(master *os.File, ln net.Listener) *Server {
	s := &Server{master: master, ln: ln, clients: map[net.Conn]bool{}, done: make(chan struct{})}
	go s.relayOutput()
	go s.accept()
	return s
}

// Close stops serving and closes the listener and every client; the
// master side is the caller's.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.Close()
		delete(s.clients, c)
	}
}

// Done is closed once the terminal has ended.
func (s *Server) Done() <-chan struct{} { return s.done }

func (s *Server) relayOutput() {
	defer close(s.done)
	defer s.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := s.master.Read(buf)
		if n > 0 {
			s.broadcast(buf[:n])
		}
		if err != nil {
			// EIO once the last slave descriptor is closed.
			return
		}
	}
}

func (s *Server) broadcast(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backlog = append(s.backlog, b...)
	if over := len(s.backlog) - Backlog; over > 0 {
		s.backlog = append(s.backlog[:0], s.backlog[over:]...)
	}
	for c := range s.clients {
		c.SetWriteDeadline(time.Now().Add(clientWriteTimeout))
		if _, err := c.Write(b); err != nil {
			c.Close()
			delete(s.clients, c)
		}
	}
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A client that went away before it was accepted, or too
			// many files for now: not the terminal's end.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go s.serve(c)
	}
}

// serve reads a client's header, and adds an attaching client to the
// others, first giving it the backlog.
func (s *Server) serve(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(clientWriteTimeout))
	h, err := readHeader(c)
	if err == nil {
		err = resize(int(s.master.Fd()), h)
	}
	if err != nil || h.verb == verbResize {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	s.mu.Lock()
	c.SetWriteDeadline(time.Now().Add(clientWriteTimeout))
	if _, err := c.Write(s.backlog); err != nil {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.clients[c] = true
	s.mu.Unlock()
	s.relayInput(c)
}

// relayInput types what a client writes into the terminal until the
// client goes.
func (s *Server) relayInput(c net.Conn) {
	if _, err := io.Copy(s.master, c); err == nil {
		// The client has no more to type (it closed its writing half):
		// it may still watch.
		return
	}
	// The terminal is gone, or the client broke off.
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	c.Close()
}
