// Command notify sends its argument (READY=1 by default) to $NOTIFY_SOCKET,
// as systemd-notify does: the tests put it in their busybox image. It then
// waits, as sd_notify_barrier does, until the receiver has taken the
// message: a service manager that learns the sender's unit from its pid
// drops a message whose sender has already exited.
package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	msg := "READY=1"
	if len(os.Args) > 1 {
		msg = os.Args[1]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
	if err != nil {
		fail(err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		fail(err)
	}
	barrier(c)
}

// barrier sends BARRIER=1 with the write end of a pipe and waits for the
// pipe's end: the receiver closes the descriptor once it has handled what
// came before (systemd), or the kernel does when the receiver takes no
// descriptors (podctl). It gives up after a few seconds.
func barrier(c *net.UnixConn) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		fail(err)
	}
	if _, _, err := c.WriteMsgUnix([]byte("BARRIER=1"), unix.UnixRights(p[1]), nil); err != nil {
		fail(err)
	}
	unix.Close(p[1])
	fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
	for {
		// Readable (at its end) once the write end is closed.
		if _, err := unix.Poll(fds, 5000); err != unix.EINTR {
			return
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "notify:", err)
	os.Exit(1)
}
