// Command hostile is the hostile app of the tests: each subcommand tries
// one way out of a pod and prints one line,
//
//	BLOCKED <way> <the errno and the defence that stopped it>
//	ESCAPED <way> <what it reached>
//	ERROR <way> <why the way could not be tried>
//
// and exits 0, 1 or 2 in the same order. ERROR is never a pass: a check
// that could not be made proves nothing. Nothing it does changes the host:
// a sysctl is written back with the value just read, core_pattern and
// devices are only opened, mounts are made in throw-away namespaces.
//
// Flags go before the subcommand:
//
//	hostile [-marker PATH -marker-content S] [-podctl DEV:INO] [-datadir PATH]
//	        [-devices P,P...] [-pid1 N] [-bin-dir DIR] WAY [WAY...]
//
// With more than one WAY, each runs in a process of its own (some change
// the process's root or namespaces) and their lines are printed in order.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// config is what the test tells the probes about the host.
type config struct {
	marker        string   // a file on the host only
	markerContent string   // what it holds
	podctl        string   // "DEV:INO" of the podctl binary under test
	datadir       string   // podctl's data directory on the host
	devices       []string // host device nodes that exist on the host
	pid1          int      // the process whose namespaces and root are the target
	binDir        string   // where the setuid and file-capability copies are
	args          []string // the flags as given, for re-executions
}

// verdict is the outcome of one way out.
type verdict struct {
	word   string // BLOCKED, ESCAPED or ERROR
	way    string
	detail string
}

func blocked(way, format string, a ...any) verdict {
	return verdict{"BLOCKED", way, fmt.Sprintf(format, a...)}
}

func escaped(way, format string, a ...any) verdict {
	return verdict{"ESCAPED", way, fmt.Sprintf(format, a...)}
}

func broken(way, format string, a ...any) verdict {
	return verdict{"ERROR", way, fmt.Sprintf(format, a...)}
}

func (v verdict) code() int {
	switch v.word {
	case "BLOCKED":
		return 0
	case "ESCAPED":
		return 1
	}
	return 2
}

// ways are the ways out, by subcommand.
var ways = map[string]func(*config) verdict{
	"sysctl-write":  sysctlWrite,
	"core-pattern":  corePattern,
	"sys-remount":   sysRemount,
	"cgroupfs-rw":   cgroupfsRW,
	"proc-mount":    procMount,
	"chroot-escape": chrootEscape,
	"podctl-files":  podctlFiles,
	"ptrace-init":   ptraceInit,
	"proc1-root":    proc1Root,
	"setns-init":    setnsInit,
	"mknod-kmsg":    mknodKmsg,
	"host-devices":  hostDevices,
	"userns-mount":  usernsMount,
	"setuid":        setuidExec,
	"filecap":       filecapExec,
	"keyctl":        keyctl,
	"bpf":           bpf,
	"perf":          perf,
}

// helpers are subcommands that are not ways out themselves.
var helpers = map[string]func(*config) int{
	"userns-inner": usernsInner,
	"ids":          printIDs,
	"exe-watch":    exeWatch,
	"exe-report":   exeReport,
	"wait":         waitForTerm,
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	fs := flag.NewFlagSet("hostile", flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.marker, "marker", "", "a host-only file")
	fs.StringVar(&c.markerContent, "marker-content", "", "what the marker holds")
	fs.StringVar(&c.podctl, "podctl", "", "DEV:INO of the podctl binary")
	fs.StringVar(&c.datadir, "datadir", "", "podctl's data directory on the host")
	devices := fs.String("devices", "", "host device nodes, comma-separated")
	fs.IntVar(&c.pid1, "pid1", 1, "the target process")
	fs.StringVar(&c.binDir, "bin-dir", "/bin", "where hostile-suid and hostile-fcap are")
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	if *devices != "" {
		c.devices = strings.Split(*devices, ",")
	}
	c.args = argv[:len(argv)-fs.NArg()]
	names := fs.Args()
	if len(names) == 0 {
		var all []string
		for n := range ways {
			all = append(all, n)
		}
		sort.Strings(all)
		fmt.Fprintf(os.Stderr, "usage: hostile [flags] WAY...\nways: %s\n", strings.Join(all, " "))
		return 2
	}
	if h, ok := helpers[names[0]]; ok {
		return h(c)
	}
	if len(names) > 1 {
		return runEach(c, names)
	}
	probe, ok := ways[names[0]]
	if !ok {
		fmt.Printf("ERROR %s no such way\n", names[0])
		return 2
	}
	v := probe(c)
	fmt.Printf("%s %s %s\n", v.word, v.way, v.detail)
	return v.code()
}

// runEach runs every way in a process of its own and prints their lines.
func runEach(c *config, names []string) int {
	worst := 0
	for _, n := range names {
		cmd := exec.Command("/proc/self/exe", append(append([]string{}, c.args...), n)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		line := strings.TrimSpace(string(out))
		if line == "" {
			line = fmt.Sprintf("ERROR %s printed nothing: %v", n, err)
		}
		fmt.Println(line)
		code := 2
		if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() >= 0 {
			code = cmd.ProcessState.ExitCode()
		}
		worst = max(worst, code)
	}
	return worst
}
