// Command notify sends its argument (READY=1 by default) to $NOTIFY_SOCKET,
// as systemd-notify does, and exits at once: the tests put it in their
// busybox image.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	msg := "READY=1"
	if len(os.Args) > 1 {
		msg = os.Args[1]
	}
	c, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
		os.Exit(1)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
		os.Exit(1)
	}
}
