package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The host's kernel settings and the syscalls that reach kernel-wide state.

const swappiness = "sys/vm/swappiness"

// rewriteSysctl writes back the value it reads from a sysctl file: a write
// that works proves the file writable without changing the host.
func rewriteSysctl(way, path string) verdict {
	old, rerr := os.ReadFile(path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return blocked(way, "opening %s for writing: %s", path, errName(err))
	}
	defer f.Close()
	if rerr != nil {
		return escaped(way, "opened %s for writing (not written: reading it gave %s)", path, errName(rerr))
	}
	if _, err := f.Write(old); err != nil {
		return blocked(way, "%s opened, the write refused: %s", path, errName(err))
	}
	return escaped(way, "wrote the host's %s (its own value %s)", path, strings.TrimSpace(string(old)))
}

func sysctlWrite(*config) verdict {
	return rewriteSysctl("sysctl-write", "/proc/"+swappiness)
}

// corePattern only opens kernel.core_pattern: writing it would run a
// program of the pod's choosing as root on the host.
func corePattern(*config) verdict {
	const p = "/proc/sys/kernel/core_pattern"
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return blocked("core-pattern", "opening %s for writing: %s", p, errName(err))
	}
	f.Close()
	return escaped("core-pattern", "opened the host's %s for writing (not written)", p)
}

// procMount mounts a proc of its own and writes vm.swappiness through it,
// the way round a read-only /proc/sys.
func procMount(*config) verdict {
	const way = "proc-mount"
	dir, err := os.MkdirTemp("/tmp", "hostile-proc-")
	if err != nil {
		return broken(way, "making a mount point: %v", err)
	}
	defer os.Remove(dir)
	if err := unix.Mount("proc", dir, "proc", 0, ""); err != nil {
		return blocked(way, "mounting a new proc: %s %s", errName(err), confinement())
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	v := rewriteSysctl(way, filepath.Join(dir, swappiness))
	v.detail = "a new proc mounted; " + v.detail
	return v
}

// readOnly reports whether the mount at dir is read-only.
func readOnly(dir string) (bool, unix.Statfs_t, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, st, err
	}
	return st.Flags&unix.ST_RDONLY != 0, st, nil
}

// remountRW makes the mount at dir read-write and says whether it ended
// read-write. Only the mount's own flag is changed, never its file
// system's, which the host may share.
func remountRW(dir string) (bool, string) {
	ro, st, err := readOnly(dir)
	if err != nil {
		return false, "statfs: " + errName(err)
	}
	if !ro {
		return true, "mounted read-write"
	}
	keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|keep, ""); err != nil {
		return false, "remount: " + errName(err)
	}
	if ro, _, _ := readOnly(dir); !ro {
		return true, "remounted read-write"
	}
	return false, "remount accepted, still read-only"
}

func sysRemount(*config) verdict {
	const way = "sys-remount"
	if _, _, err := readOnly("/sys"); err != nil {
		return broken(way, "statfs /sys: %v", err)
	}
	rw, why := remountRW("/sys")
	if rw {
		return escaped(way, "/sys: %s", why)
	}
	return blocked(way, "/sys read-only; %s %s", why, confinement())
}

// cgroupfsRW checks every cgroup file system the app has mounted.
func cgroupfsRW(*config) verdict {
	const way = "cgroupfs-rw"
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return broken(way, "reading mountinfo: %v", err)
	}
	var seen []string
	for _, line := range strings.Split(string(b), "\n") {
		_, after, ok := strings.Cut(line, " - ")
		f := strings.Fields(line)
		if !ok || len(f) < 5 {
			continue
		}
		fstype := strings.Fields(after)[0]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		dir := f[4]
		if rw, why := remountRW(dir); rw {
			return escaped(way, "cgroup file system %s: %s", dir, why)
		}
		seen = append(seen, dir)
	}
	if len(seen) == 0 {
		return blocked(way, "no cgroup file system mounted")
	}
	return blocked(way, "read-only and not remountable: %s %s", strings.Join(seen, " "), confinement())
}

// usernsMount makes a user and mount namespace and mounts a tmpfs in it,
// as `unshare -Urm mount -t tmpfs` does. A Go process has threads, and
// unshare(CLONE_NEWUSER) needs one, so the namespaces are made by clone
// for a child that runs usernsInner.
func usernsMount(c *config) verdict {
	const way = "userns-mount"
	cmd := exec.Command("/proc/self/exe", append(append([]string{}, c.args...), "userns-inner")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if cmd.ProcessState == nil {
		return blocked(way, "making a user namespace: %s %s", errName(err), confinement())
	}
	line := strings.TrimSpace(string(out))
	switch {
	case strings.HasPrefix(line, "ESCAPED "):
		return escaped(way, "%s", strings.TrimPrefix(line, "ESCAPED "))
	case strings.HasPrefix(line, "BLOCKED "):
		return blocked(way, "%s", strings.TrimPrefix(line, "BLOCKED "))
	}
	return broken(way, "the child in the new user namespace said %q (%v)", line, err)
}

// usernsInner runs as root of a new user namespace, in a mount namespace
// it owns.
func usernsInner(*config) int {
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m"); err != nil {
		fmt.Printf("BLOCKED user namespace made; mounting a tmpfs in it: %s %s\n", errName(err), confinement())
		return 0
	}
	unix.Unmount("/tmp", unix.MNT_DETACH)
	fmt.Println("ESCAPED mounted a tmpfs in a user namespace of its own")
	return 1
}

// syscallVerdict judges a syscall that container engines' seccomp profile
// refuses: any answer but EPERM, EACCES or ENOSYS means it reached the
// kernel.
func syscallVerdict(way, call string, err error) verdict {
	if err == nil {
		return escaped(way, "%s succeeded %s", call, confinement())
	}
	if isErrno(err, unix.EPERM, unix.EACCES, unix.ENOSYS) {
		return blocked(way, "%s: %s %s", call, errName(err), confinement())
	}
	return escaped(way, "%s reached the kernel: %s %s", call, errName(err), confinement())
}

// keyctl reads the session keyring's id: keyrings are not namespaced.
func keyctl(*config) verdict {
	_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	return syscallVerdict("keyctl", "keyctl(KEYCTL_GET_KEYRING_ID)", err)
}

// bpf creates a one-entry array map, and closes it.
func bpf(*config) verdict {
	var attr [64]byte
	put := func(off int, v uint32) { *(*uint32)(unsafe.Pointer(&attr[off])) = v }
	put(0, unix.BPF_MAP_TYPE_ARRAY)
	put(4, 4) // key size
	put(8, 4) // value size
	put(12, 1)
	fd, _, no := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
	var err error
	if no != 0 {
		err = no
	} else {
		unix.Close(int(fd))
	}
	return syscallVerdict("bpf", "bpf(BPF_MAP_CREATE)", err)
}

// perf opens a software counter on itself, and closes it.
func perf(*config) verdict {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Bits:   unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
	}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	return syscallVerdict("perf", "perf_event_open", err)
}
