package stage1

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"podctl/stage1/cgroup"
)

// EnterNamespaces runs cmd in the namespaces (mount, UTS, IPC, network,
// PID), root and working directory of the host process pid, a process of
// app, with that process's environment, and returns cmd's exit code. The
// command is born in cgroup folder cgroupDir (the app's), if not "", so
// that stop and gc find it with the app's processes.
func EnterNamespaces(pid int, app, cgroupDir string, cmd []string, stdio Stdio) (int, error) {
	env, err := ProcEnv(pid)
	if err != nil {
		return 0, fmt.Errorf("entering app %s: %w", app, err)
	}
	argv := append([]string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--"}, cmd...)
	c := exec.Command("nsenter", argv...)
	c.Env = env
	stdio.Apply(c)
	if cgroupDir == "" {
		err = c.Start()
	} else {
		var join func() error
		if join, err = cgroup.StartIn(c, cgroupDir); err == nil {
			err = join()
		}
	}
	if err == nil {
		err = c.Wait()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, fmt.Errorf("entering app %s: %w", app, err)
	}
	return c.ProcessState.ExitCode(), nil
}

// HostPidIn returns the host pid of the process of cgroup folder dir whose
// pid in its own PID namespace is nsPid, or 0 if there is none.
func HostPidIn(dir string, nsPid int) int {
	pids, _ := (&cgroup.Group{Dirs: []string{dir}}).Procs()
	for _, pid := range pids {
		if NSPid(pid) == nsPid {
			return pid
		}
	}
	return 0
}

// NSPid is a host process's pid in its innermost PID namespace.
func NSPid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[len(f)-1])
				return n
			}
		}
	}
	return 0
}
