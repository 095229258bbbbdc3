package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The pattern of CVE-2019-5736, through `podctl enter`. The image has
// /bin/evil, a script whose interpreter is #!/proc/self/exe: whatever
// binary enter's last step runs as re-executes itself inside the pod. The
// app, exe-watch, watches every process of the pod, opens each one's
// /proc/PID/exe with O_PATH and tries to reopen it for writing through
// /proc/self/fd. It must never get hold of podctl's binary, nor of any
// file that is not in its own root, for writing. It only opens, never
// writes.
//
// exe-report, run by `podctl enter` once the evil enters have returned,
// asks the watcher for its verdict.

const (
	watchPidFile = "/tmp/hostile-exe-watch.pid"
	watchOutFile = "/tmp/hostile-exe-watch.out"
	evilPath     = "/bin/evil"
)

// watchState is what the watcher has found so far.
type watchState struct {
	scans    int
	sawEvil  []string // the interpreters of /bin/evil seen
	defences []string // why an exe could not be had
	escape   string   // set once anything got out
}

func exeWatch(c *config) int {
	if c.podctl == "" {
		fmt.Println("ERROR enter-exe -podctl DEV:INO not given")
		return 2
	}
	report := make(chan os.Signal, 1)
	signal.Notify(report, syscall.SIGUSR1)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	if err := os.WriteFile(watchPidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fmt.Printf("ERROR enter-exe writing %s: %v\n", watchPidFile, err)
		return 2
	}
	st := &watchState{}
	seen := map[string]bool{}
	for {
		select {
		case <-term:
			return 0
		case <-report:
			v := st.verdict()
			line := fmt.Sprintf("%d %s %s %s\n", v.code(), v.word, v.way, v.detail)
			tmp := watchOutFile + ".tmp"
			if err := os.WriteFile(tmp, []byte(line), 0o644); err == nil {
				os.Rename(tmp, watchOutFile)
			}
		default:
		}
		st.scan(c, seen)
		// Short enough to catch a process that lives a few milliseconds,
		// long enough to leave the machine's cores to the others.
		time.Sleep(500 * time.Microsecond)
	}
}

// scan looks at every process not looked at before with its current exe.
func (st *watchState) scan(c *config, seen map[string]bool) {
	st.scans++
	for _, p := range pids() {
		proc := fmt.Sprintf("/proc/%d", p)
		cmdline, err := os.ReadFile(proc + "/cmdline")
		if err != nil {
			continue
		}
		link, lerr := os.Readlink(proc + "/exe")
		key := fmt.Sprintf("%d %q %s", p, cmdline, link)
		if seen[key] {
			continue
		}
		seen[key] = true
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		evil := false
		for _, a := range args {
			evil = evil || a == evilPath
		}
		if !evil {
			continue
		}
		what := fmt.Sprintf("pid %d %q", p, strings.Join(args, " "))
		if lerr == nil {
			what += " exe " + link
		}
		// The interpreter itself, as the kernel starts it for the script,
		// is what the check is about; enter's own processes on the way
		// to it are looked at too.
		if len(args) >= 2 && args[0] == "/proc/self/exe" && args[1] == evilPath {
			st.sawEvil = append(st.sawEvil, what)
		}
		st.look(c, p, link, what)
	}
}

// look opens the exe of process p and tries to reopen it for writing.
func (st *watchState) look(c *config, p int, link, what string) {
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/exe", p), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if !isErrno(err, unix.ENOENT, unix.ESRCH) {
			st.defences = append(st.defences, fmt.Sprintf("%s: opening its exe: %s", what, errName(err)))
		}
		return
	}
	defer unix.Close(fd)
	id, err := fstatID(fd)
	if err != nil {
		return
	}
	w, werr := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	write := "reopened for writing"
	if werr != nil {
		write = "reopen for writing: " + errName(werr)
	} else {
		unix.Close(w)
	}
	if id == c.podctl {
		st.escape = fmt.Sprintf("%s runs podctl's binary, held through /proc/%d/exe (%s)", what, p, write)
		return
	}
	// A file of the app's own root may be written: it is the app's.
	own, _ := statID(link)
	if werr == nil && own != id {
		st.escape = fmt.Sprintf("%s runs a binary from outside the app's root, %s", what, write)
		return
	}
	st.defences = append(st.defences, fmt.Sprintf("%s: not podctl's, %s", what, write))
}

func (st *watchState) verdict() verdict {
	const way = "enter-exe"
	switch {
	case st.escape != "":
		return escaped(way, "%s", st.escape)
	case len(st.sawEvil) == 0:
		return broken(way, "never saw the interpreter of %s running, in %d scans", evilPath, st.scans)
	case len(st.defences) == 0:
		return broken(way, "saw %s but could look at none", strings.Join(st.sawEvil, "; "))
	}
	d := st.defences
	if len(d) > 4 {
		d = append(d[:4], fmt.Sprintf("and %d more", len(st.defences)-4))
	}
	return blocked(way, "%s", strings.Join(d, "; "))
}

// exeReport asks the watcher for its verdict and prints it.
func exeReport(*config) int {
	b, err := os.ReadFile(watchPidFile)
	if err != nil {
		fmt.Printf("ERROR enter-exe no watcher: %v\n", err)
		return 2
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		fmt.Printf("ERROR enter-exe bad pid file %q\n", b)
		return 2
	}
	os.Remove(watchOutFile)
	if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
		fmt.Printf("ERROR enter-exe signalling the watcher %d: %v\n", pid, err)
		return 2
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, err := os.ReadFile(watchOutFile)
		if err != nil {
			continue
		}
		code, line, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		fmt.Println(line)
		n, _ := strconv.Atoi(code)
		return n
	}
	fmt.Println("ERROR enter-exe the watcher never answered")
	return 2
}

// waitForTerm waits for SIGTERM, the app of a pod the test enters.
func waitForTerm(*config) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	<-term
	return 0
}
