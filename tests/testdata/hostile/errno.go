package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// errName names the errno in err (EPERM, EROFS...), or gives err whole.
func errName(err error) string {
	var no syscall.Errno
	if errors.As(err, &no) {
		if n := unix.ErrnoName(no); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(no))
	}
	return err.Error()
}

// isErrno reports whether err is one of the errnos.
func isErrno(err error, nos ...syscall.Errno) bool {
	for _, no := range nos {
		if errors.Is(err, no) {
			return true
		}
	}
	return false
}

// confinement describes what the calling process runs under, to name the
// defence that refused a call: its effective capabilities, seccomp mode
// and no_new_privs, as /proc/self/status gives them.
func confinement() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "status unreadable: " + errName(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "CapEff", "Seccomp", "NoNewPrivs":
			out = append(out, k+"="+strings.TrimSpace(v))
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

// devIno is the "DEV:INO" of a file, as the tests give the podctl binary.
func devIno(st *unix.Stat_t) string {
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// statID is devIno of the file at path, following links.
func statID(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", err
	}
	return devIno(&st), nil
}

// fstatID is devIno of an open descriptor.
func fstatID(fd int) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	return devIno(&st), nil
}

// markerSeen reports whether path is the host's marker, with its content.
func (c *config) markerSeen(path string) bool {
	if c.marker == "" {
		return false
	}
	b, err := os.ReadFile(path)
	return err == nil && string(b) == c.markerContent
}

// pids lists the processes visible in /proc, but the caller.
func pids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	self := os.Getpid()
	for _, e := range ents {
		var n int
		if _, err := fmt.Sscanf(e.Name(), "%d", &n); err == nil && fmt.Sprint(n) == e.Name() && n != self {
			out = append(out, n)
		}
	}
	return out
}
