package console

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// The detach keys: Ctrl-P then Ctrl-Q leaves the terminal to the pod, as
// in podman and docker. Ctrl-C, in the raw terminal of an attached
// client, is the app's.
const (
	ctrlP = 0x10
	ctrlQ = 0x11
)

// DetachKeys says the detach keys, for help and messages.
const DetachKeys = "Ctrl-P Ctrl-Q"

// ErrDetached is Attach's error when the user typed the detach keys.
var ErrDetached = errors.New("detached")

// Attach connects the caller's terminal to a console, reached with dial:
// what the console shows goes to out, and, when in is not nil, what is
// typed on in goes to the console. A terminal in is put in raw mode for
// the while, so that every key reaches the app, the console takes its
// size, and again whenever it changes (SIGWINCH); the detach keys end the
// attach (ErrDetached). Attach returns nil when the console ends (the
// pod's app has closed its terminal).
func Attach(dial func() (net.Conn, error), in *os.File, out io.Writer) error {
	h := header{verb: verbAttach}
	if in != nil {
		h.rows, h.cols = sizeOf(int(in.Fd()))
	}
	conn, err := dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, h.String()); err != nil {
		return fmt.Errorf("attaching to the console: %w", err)
	}
	outDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, conn)
		outDone <- err
	}()
	if in == nil {
		return <-outDone
	}
	restore, err := makeRaw(in)
	if err != nil {
		return err
	}
	defer restore()
	stopResizing := followSize(dial, in)
	defer stopResizing()
	inDone := make(chan error, 1)
	go func() { inDone <- copyInput(conn, in) }()
	select {
	case err := <-outDone:
		return err
	case err := <-inDone:
		if errors.Is(err, ErrDetached) {
			return err
		}
		// The caller's input has ended (EOF): the console stays, and its
		// output is still shown until it ends.
		if cw, ok := conn.(interface{ CloseWrite() error }); ok && err == nil {
			cw.CloseWrite()
		}
		return <-outDone
	}
}

// followSize gives the console the size of the terminal in each time it
// changes, over a connection of its own, until the returned func is
// called. A resize that fails is let go: the next one may work, and the
// app's output goes on meanwhile.
func followSize(dial func() (net.Conn, error), in *os.File) func() {
	if _, err := unix.IoctlGetWinsize(int(in.Fd()), unix.TIOCGWINSZ); err != nil {
		return func() {}
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				h := header{verb: verbResize}
				h.rows, h.cols = sizeOf(int(in.Fd()))
				if c, err := dial(); err == nil {
					io.WriteString(c, h.String())
					c.Close()
				}
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
	}
}

// copyInput copies in to conn, watching for the detach keys. A Ctrl-P not
// followed by Ctrl-Q is passed on with the key after it.
func copyInput(conn io.Writer, in io.Reader) error {
	buf := make([]byte, 4096)
	held := false
	for {
		n, err := in.Read(buf)
		out := make([]byte, 0, n+1)
		detached := false
		for _, b := range buf[:n] {
			if held {
				held = false
				if b == ctrlQ {
					detached = true
					break
				}
				out = append(out, ctrlP)
			}
			if b == ctrlP {
				held = true
				continue
			}
			out = append(out, b)
		}
		if len(out) > 0 {
			if _, werr := conn.Write(out); werr != nil {
				return fmt.Errorf("typing into the console: %w", werr)
			}
		}
		switch {
		case detached:
			return ErrDetached
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("reading the terminal: %w", err)
		}
	}
}

// makeRaw puts a terminal in raw mode and returns what restores it; on
// what is not a terminal it does nothing.
func makeRaw(f *os.File) (func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		// Not a terminal (a pipe, a file): nothing to change.
		return func() {}, nil
	}
	raw := *old
	// As cfmakeraw(3).
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("putting the terminal in raw mode: %w", err)
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
