// Package rootless lets an ordinary user run podctl's verbs that make
// pods and images: it re-executes podctl in a user namespace of the
// user's own, where podctl is root over the user's subordinate ids.
//
// Two processes take part:
//
//  1. the user's podctl (Run), on the host, as the user. It reads the
//     user's ranges in /etc/subuid and /etc/subgid, starts the second
//     process in a new user namespace, maps its ids with newuidmap and
//     newgidmap (setuid helpers of Debian's uidmap), then says so on a
//     pipe, passes signals on and exits with the second's status.
//  2. the same podctl in the new namespace, with EnvInside set to
//     "wait". Capabilities are computed at execve, and this process was
//     executed before its ids were mapped: it has none. It waits for the
//     pipe (Continue) and executes itself again, now as root of the
//     namespace with every capability in it, EnvInside set to "1".
//
// The namespace maps
//
//	0        -> the user's own uid (gid)        1 id
//	1..N     -> the user's /etc/subuid (subgid) range
//
// so that what podctl makes as root is the user's on the host, and an
// image's other ids land in the user's range.
package rootless

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// EnvInside marks a podctl re-executed in the user's namespace, so that
// it does not re-execute itself again: "wait" before its ids are mapped,
// "1" once it is root there.
const EnvInside = "PODCTL_ROOTLESS"

// syncFD is the descriptor on which the second process waits for its map.
const syncFD = 3

// Inside reports whether this podctl runs as root of a user's namespace
// made by Run: the marker is set and the process is not in the host's
// user namespace. The marker alone could be set by anyone.
func Inside() bool {
	return os.Getenv(EnvInside) == "1" && !InitialUserNS()
}

// Active reports whether this podctl acts for an ordinary user: it is not
// root, or it is root of a namespace made by Run.
func Active() bool {
	return os.Geteuid() != 0 || Inside()
}

// InitialUserNS reports whether the process is in the host's user
// namespace, whose uid_map maps every id to itself.
func InitialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// DefaultDataDir is an ordinary user's data directory:
// $XDG_DATA_HOME/podctl, else $HOME/.local/share/podctl.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "podctl"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		u, err := user.Current()
		if err != nil {
			return "", fmt.Errorf("finding your home folder: %w: set HOME or give --dir", err)
		}
		home = u.HomeDir
	}
	if !filepath.IsAbs(home) {
		return "", fmt.Errorf("HOME %q is not an absolute path: set HOME or give --dir", home)
	}
	return filepath.Join(home, ".local", "share", "podctl"), nil
}

// Range is a range of subordinate ids, as /etc/subuid gives it.
type Range struct {
	Start, Count uint64
}

// ParseSubIDs returns the first range of the file in the form of
// /etc/subuid (NAME-OR-ID:START:COUNT per line) given to the user name or
// uid; ok is false if there is none.
func ParseSubIDs(r io.Reader, name string, uid int) (rg Range, ok bool, err error) {
	sc := bufio.NewScanner(r)
	id := strconv.Itoa(uid)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != id) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			continue
		}
		return Range{start, count}, true, nil
	}
	return Range{}, false, sc.Err()
}

// subIDs reads the user's range in file (/etc/subuid or /etc/subgid).
func subIDs(file, name string, id int, what string) (Range, error) {
	f, err := os.Open(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Range{}, fmt.Errorf("reading %s: %w", file, err)
	}
	var rg Range
	ok := false
	if err == nil {
		defer f.Close()
		if rg, ok, err = ParseSubIDs(f, name, id); err != nil {
			return Range{}, fmt.Errorf("reading %s: %w", file, err)
		}
	}
	if !ok {
		return Range{}, fmt.Errorf("user %s has no subordinate %ss in %s, which podctl needs to run pods without root: ask root for a range (usermod --add-sub%ss 100000-165535 %s)", name, what, file, what, name)
	}
	return rg, nil
}

// plan is what Run maps and with what.
type plan struct {
	uid, gid             int
	uids, gids           Range
	newuidmap, newgidmap string
}

// makePlan finds the user's ranges and the mapping helpers.
func makePlan() (*plan, error) {
	p := &plan{uid: os.Getuid(), gid: os.Getgid()}
	u, err := user.LookupId(strconv.Itoa(p.uid))
	if err != nil {
		return nil, fmt.Errorf("finding your user name: %w", err)
	}
	if p.uids, err = subIDs("/etc/subuid", u.Username, p.uid, "uid"); err != nil {
		return nil, err
	}
	if p.gids, err = subIDs("/etc/subgid", u.Username, p.uid, "gid"); err != nil {
		return nil, err
	}
	for _, h := range []struct {
		name string
		path *string
	}{{"newuidmap", &p.newuidmap}, {"newgidmap", &p.newgidmap}} {
		if *h.path, err = lookHelper(h.name); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// lookHelper finds newuidmap or newgidmap on PATH, or where Debian puts
// them.
func lookHelper(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := "/usr/bin/" + name
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is missing, which podctl needs to run pods without root: install it (apt-get install uidmap)", name)
}

// Run executes podctl (self) with args again in a new user namespace of
// the caller's, with env added to its environment, and returns its exit
// status once it ends. Signals this process gets are passed on to it.
func Run(self string, args, env []string) (int, error) {
	p, err := makePlan()
	if err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("starting podctl in your user namespace: %w", err)
	}
	defer r.Close()
	defer w.Close()
	cmd := exec.Command(self, args...)
	cmd.Args[0] = "podctl"
	cmd.Env = append(append(os.Environ(), env...), EnvInside+"=wait")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER,
		// It must not outlive this process, which it depends on for
		// nothing after the map, but which its caller waits for.
		Pdeathsig: syscall.SIGKILL,
	}
	// Caught before the start, so that none is lost before the wait.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting podctl in a new user namespace: %w", err)
	}
	r.Close()
	if err := p.mapIDs(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, err
	}
	// One byte says the map is there; a closed pipe without it, that it
	// never will be.
	if _, err := w.Write([]byte{0}); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("starting podctl in your user namespace: %w", err)
	}
	w.Close()
	done := make(chan struct{})
	go forward(cmd.Process, sigs, done)
	err = cmd.Wait()
	close(done)
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err != nil && !ok {
		return 0, fmt.Errorf("running podctl in your user namespace: %w", err)
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// mapIDs maps the ids of process pid's user namespace.
func (p *plan) mapIDs(pid int) error {
	for _, m := range []struct {
		helper string
		own    int
		rg     Range
	}{{p.newuidmap, p.uid, p.uids}, {p.newgidmap, p.gid, p.gids}} {
		args := []string{strconv.Itoa(pid),
			"0", strconv.Itoa(m.own), "1",
			"1", strconv.FormatUint(m.rg.Start, 10), strconv.FormatUint(m.rg.Count, 10)}
		if out, err := exec.Command(m.helper, args...).CombinedOutput(); err != nil {
			msg := strings.TrimSpace(string(out))
			if msg == "" {
				msg = err.Error()
			}
			return fmt.Errorf("mapping your ids (%s %s): %s: check your ranges in /etc/subuid and /etc/subgid", filepath.Base(m.helper), strings.Join(args, " "), strings.ReplaceAll(msg, "\n", "; "))
		}
	}
	return nil
}

// forward passes the signals this process gets on to p until done. A
// signal the terminal sends to its foreground process group (SIGINT,
// SIGQUIT, SIGTSTP from the keyboard) has reached p already when this
// process is in that group with it: those are not sent twice. One sent to
// the whole group by other means (kill -TERM -PGID) does reach p twice,
// which a pod takes as one stop: Go does not tell who sent a signal.
func forward(p *os.Process, sigs chan os.Signal, done chan struct{}) {
	fromTTY := foreground()
	for {
		select {
		case sig := <-sigs:
			s, ok := sig.(syscall.Signal)
			if !ok || s == syscall.SIGCHLD || s == syscall.SIGURG || s == syscall.SIGWINCH {
				continue
			}
			if fromTTY && (s == syscall.SIGINT || s == syscall.SIGQUIT || s == syscall.SIGTSTP) {
				continue
			}
			p.Signal(s)
		case <-done:
			return
		}
	}
}

// foreground reports whether this process is in the foreground process
// group of a terminal on its standard input.
func foreground() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// Waiting reports whether this process is the second of Run, executed in
// its new namespace before its ids were mapped.
func Waiting() bool {
	return os.Getenv(EnvInside) == "wait"
}

// Continue is the second process of Run before its map: it waits for the
// first to map its ids and executes podctl again, root of the namespace.
// It returns only if that fails, with the exit status.
func Continue() int {
	f := os.NewFile(syncFD, "rootless-sync")
	b := make([]byte, 1)
	n, _ := f.Read(b)
	f.Close()
	if n != 1 {
		// The first process has said why.
		return 254
	}
	env := os.Environ()
	for i, kv := range env {
		if strings.HasPrefix(kv, EnvInside+"=") {
			env[i] = EnvInside + "=1"
		}
	}
	err := unix.Exec("/proc/self/exe", os.Args, env)
	fmt.Fprintf(os.Stderr, "podctl: executing podctl in your user namespace: %v\n", err)
	return 254
}
