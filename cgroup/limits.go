package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Limits are one app's resource limits; zero means none.
type Limits struct {
	// MemoryBytes is the most memory the app may use; past it the kernel
	// kills it.
	MemoryBytes int64
	// CPUMillis is the CPU time the app may use, in thousandths of a core.
	CPUMillis int64
	// Pids is the most processes (and threads) the app may have at once.
	Pids int64
	// Devices limits the device nodes the app may open to DefaultDevices,
	// and refuses it mknod. Its pod's group must have been made with
	// "devices" in its also list where the host has the v1 controller.
	Devices bool
	// ExtraDevices are allowed beside DefaultDevices, where Devices is
	// set (--device).
	ExtraDevices []Device `json:",omitempty"`
}

// None reports whether l sets no resource limit (memory, CPU or
// processes), the device policy aside.
func (l Limits) None() bool { return l.MemoryBytes == 0 && l.CPUMillis == 0 && l.Pids == 0 }

// cpuPeriod is the CFS period limits are expressed in, in microseconds.
const cpuPeriod = 100000

// MinCPUMillis is the least CPU limit the kernel takes, in thousandths of
// a core: a quota of 1 ms (its least) in each cpuPeriod.
const MinCPUMillis = 1000 * 1000 / cpuPeriod

// NewAppGroup makes one app's own cgroups below the pod's group: those its
// usage is read from, and those that hold its limits, in the hierarchies
// of the memory, cpu and pids controllers (v1), or in the unified
// hierarchy when those controllers are there, where it writes the limits,
// and, for an app with l.Devices, the one that holds its device policy
// (newAppDevices). For limits, the pod's group must have been made with
// "memory", "cpu" and "pids" in its also list. It returns the folders,
// which the app joins.
func (g *Group) NewAppGroup(app string, l Limits) ([]string, error) {
	// One folder at a time, as eachDir: the kernel makes every
	// hierarchy's under one lock.
	var devDir string
	var devErr error
	if l.Devices {
		devDir, devErr = g.newAppDevices(app, l.ExtraDevices)
	}
	dirs, err := g.newStatsChildren(app)
	if err != nil {
		return nil, err
	}
	mk := func(parent string) (string, error) {
		d := filepath.Join(parent, app)
		if err := g.mkdirChild(d); err != nil {
			return "", fmt.Errorf("creating cgroup of app %s: %w", app, err)
		}
		dirs = append(dirs, d)
		return d, nil
	}
	write := func(dir, file, value string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
			return fmt.Errorf("limiting app %s: writing %s: %w", app, file, err)
		}
		return nil
	}
	if l.Devices {
		if devErr != nil {
			return nil, devErr
		}
		dirs = append(dirs, devDir)
	}
	if l.MemoryBytes > 0 {
		switch {
		case g.v1["memory"] != "":
			d, err := mk(g.v1["memory"])
			if err != nil {
				return nil, err
			}
			if err := write(d, "memory.limit_in_bytes", strconv.FormatInt(l.MemoryBytes, 10)); err != nil {
				return nil, err
			}
		case g.v2Has("memory"):
			d, err := mk(g.Dirs[0])
			if err != nil {
				return nil, err
			}
			if err := write(d, "memory.max", strconv.FormatInt(l.MemoryBytes, 10)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("app %s has a memory limit, but this host gives podctl no memory controller", app)
		}
	}
	if l.CPUMillis > 0 {
		quota := l.CPUMillis * cpuPeriod / 1000
		switch {
		case g.v1["cpu"] != "":
			d, err := mk(g.v1["cpu"])
			if err != nil {
				return nil, err
			}
			if err := write(d, "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)); err != nil {
				return nil, err
			}
			if err := write(d, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
				return nil, err
			}
		case g.v2Has("cpu"):
			d, err := mk(g.Dirs[0])
			if err != nil {
				return nil, err
			}
			if err := write(d, "cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriod)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("app %s has a CPU limit, but this host gives podctl no cpu controller", app)
		}
	}
	if l.Pids > 0 {
		switch {
		case g.v1["pids"] != "":
			d, err := mk(g.v1["pids"])
			if err != nil {
				return nil, err
			}
			if err := write(d, "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
				return nil, err
			}
		case g.v2Has("pids"):
			d, err := mk(g.Dirs[0])
			if err != nil {
				return nil, err
			}
			if err := write(d, "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("app %s has a process limit, but this host gives podctl no pids controller", app)
		}
	}
	return uniq(dirs), nil
}

// v2Has reports whether the pod's unified cgroup can enable controller
// for its children, and enables it.
func (g *Group) v2Has(controller string) bool {
	if !g.unified || len(g.Dirs) == 0 {
		return false
	}
	b, err := os.ReadFile(filepath.Join(g.Dirs[0], "cgroup.controllers"))
	if err != nil || !contains(strings.Fields(string(b)), controller) {
		return false
	}
	return os.WriteFile(filepath.Join(g.Dirs[0], "cgroup.subtree_control"), []byte("+"+controller), 0) == nil
}

func uniq(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// OOMKills returns how many times the kernel killed a process of the
// cgroup folders for using more memory than their limit.
func OOMKills(dirs []string) int {
	n := 0
	for _, d := range dirs {
		for _, f := range []string{"memory.oom_control", "memory.events"} {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
					k, _ := strconv.Atoi(strings.TrimSpace(v))
					n += k
				}
			}
		}
	}
	return n
}
