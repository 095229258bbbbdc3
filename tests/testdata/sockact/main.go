// Command sockact is the socket-activated app of the tests: it checks that
// it was given its sockets as systemd gives them (LISTEN_PID its own pid,
// LISTEN_FDS of them from descriptor 3), accepts one connection on the
// first and writes what it found to it, then exits.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	pidOK := os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid())
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if n < 1 {
		fmt.Fprintln(os.Stderr, "sockact: no LISTEN_FDS")
		os.Exit(2)
	}
	l, err := net.FileListener(os.NewFile(3, "listen"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sockact:", err)
		os.Exit(2)
	}
	c, err := l.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sockact:", err)
		os.Exit(2)
	}
	fmt.Fprintf(c, "fds=%d names=%s pid-ok=%t\n", n, os.Getenv("LISTEN_FDNAMES"), pidOK)
	c.Close()
}
