package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Device nodes: made by the app, or the host's own by path.

// mknodKmsg makes a node of the kernel log (char 1:11) wherever the app can
// write, and opens it for reading. Escaping takes both: some policies
// (container engines' device cgroup) let mknod through and refuse the open.
func mknodKmsg(*config) verdict {
	const way = "mknod-kmsg"
	var why []string
	for _, dir := range []string{"/tmp", "/", "/dev", "/dev/shm", "/root", "/run"} {
		p := filepath.Join(dir, fmt.Sprintf(".hostile-kmsg-%d", os.Getpid()))
		if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))); err != nil {
			why = append(why, fmt.Sprintf("mknod in %s: %s", dir, errName(err)))
			continue
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		unix.Unlink(p)
		if err == nil {
			unix.Close(fd)
			return escaped(way, "made %s (1:11, the kernel log) and opened it", p)
		}
		why = append(why, fmt.Sprintf("made in %s, open: %s", dir, errName(err)))
	}
	return blocked(way, "%s %s", strings.Join(why, ", "), confinement())
}

// hostDevices opens, read-only, the host's device nodes by their paths.
func hostDevices(c *config) verdict {
	const way = "host-devices"
	if len(c.devices) == 0 {
		return broken(way, "-devices not given")
	}
	var why []string
	for _, d := range c.devices {
		fd, err := unix.Open(d, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			return escaped(way, "opened the host's %s", d)
		}
		why = append(why, d+": "+errName(err))
	}
	return blocked(way, "%s", strings.Join(why, ", "))
}
