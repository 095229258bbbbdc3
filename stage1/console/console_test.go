package console

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A client gets what the terminal showed before it came, then what it
// shows, and what it types reaches the terminal; the console ends with
// the terminal.
func TestServe(t *testing.T) {
	master, slave, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "console.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(master, ln)
	if _, err := slave.WriteString("before-attach\n"); err != nil {
		t.Fatal(err)
	}
	// The server reads the master side whether or not anyone is there.
	waitBacklog(t, s, "before-attach")
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("attach 30 100\n")); err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 16)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			read <- string(buf[:n])
			if err != nil {
				close(read)
				return
			}
		}
	}()
	waitRead(t, read, "before-attach")
	if _, err := c.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	slave.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(slave, got); err != nil || string(got) != "typed\n" {
		t.Fatalf("the terminal got %q, %v; want what the client typed", got, err)
	}
	slave.WriteString("after-attach\n")
	waitRead(t, read, "after-attach")
	if rows, cols := sizeOf(int(slave.Fd())); rows != 30 || cols != 100 {
		t.Fatalf("the terminal is %d×%d after an attach at 30×100", rows, cols)
	}
	r, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r.Write([]byte("resize 40 120\n"))
	// The server closes a resizing connection once it has resized.
	io.Copy(io.Discard, r)
	r.Close()
	if rows, cols := sizeOf(int(slave.Fd())); rows != 40 || cols != 120 {
		t.Fatalf("the terminal is %d×%d after a resize to 40×120", rows, cols)
	}
	bad, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bad.Write([]byte("attach -1 2\nrm -rf /\n"))
	if n, _ := io.Copy(io.Discard, bad); n != 0 {
		t.Fatalf("a client with a bad header was served %d bytes", n)
	}
	bad.Close()
	slave.Close()
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the console did not end with its terminal")
	}
	for range read {
		// The client is closed once the console ends.
	}
}

func waitBacklog(t *testing.T, s *Server, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		b := string(s.backlog)
		s.mu.Unlock()
		if strings.Contains(b, want) {
			return
		}
	}
	t.Fatalf("the console's backlog has no %q after 30 s", want)
}

func waitRead(t *testing.T, read <-chan string, want string) {
	t.Helper()
	var seen strings.Builder
	deadline := time.After(30 * time.Second)
	for !strings.Contains(seen.String(), want) {
		select {
		case s, ok := <-read:
			if !ok {
				t.Fatalf("the console closed before showing %q: %q", want, seen.String())
			}
			seen.WriteString(s)
		case <-deadline:
			t.Fatalf("the console did not show %q in 30 s: %q", want, seen.String())
		}
	}
}
