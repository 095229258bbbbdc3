package kit

import (
	"fmt"
	"net"
	"os"
	"strings"

	"podctl/lifecycle"
)

// AppNotifySocket is where an app started with Task.ReadyNotify finds its
// notify socket, inside its root ($NOTIFY_SOCKET).
const AppNotifySocket = "/run/podctl/notify"

// ListenNotify makes app s's notify socket and gives it to the app: bound
// into its root at AppNotifySocket (a mount of s), named by $NOTIFY_SOCKET.
// Each READY=1 it receives sends index on ready: stage1 itself receives it,
// so a sender that exits at once is heard all the same.
func ListenNotify(p *lifecycle.Pod, s *AppSpec, index int, ready chan<- int) (*net.UnixConn, error) {
	dir, err := os.Open(p.FilePath(lifecycle.AppDir(s.Name)))
	if err != nil {
		return nil, fmt.Errorf("making the notify socket of app %s: %w", s.Name, err)
	}
	defer dir.Close()
	path := p.FilePath(lifecycle.AppFile(s.Name, lifecycle.AppNotify))
	os.Remove(path)
	// Bound through the folder's descriptor: a socket's path must fit in
	// 108 bytes, and a pod's may not.
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), lifecycle.AppNotify), Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("making the notify socket of app %s: %w", s.Name, err)
	}
	// Any user of the app may notify, as with systemd's NotifyAccess=all.
	if err := os.Chmod(path, 0o777); err != nil {
		c.Close()
		return nil, fmt.Errorf("making the notify socket of app %s: %w", s.Name, err)
	}
	s.Mounts = append(s.Mounts, MountSpec{Source: path, Target: AppNotifySocket})
	s.Env = append(s.Env, "NOTIFY_SOCKET="+AppNotifySocket)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if line == "READY=1" {
					ready <- index
				}
			}
		}
	}()
	return c, nil
}
