// Package appexec is what the process that becomes an app does, last
// before it executes the app's command: podctl's own exec helper verbs,
// in every flavor. It sets the app's environment, working directory,
// resource limits, capabilities, user, no_new_privs and seccomp filter on
// itself, and executes the app. For podctl-exec, the native flavor's
// helper in C, it resolves the same in the app's root, in the init, and
// encodes what the C program applies (wire.go).
package appexec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"podctl/internal/passwd"
	"podctl/stage1/seccomp"
)

// Exec turns the calling helper, already inside the app's root, into
// the app: it sets the environment, the working directory, the resource
// limits and oom_score_adj (applySettings) and the user, and executes the
// app's command. Every app keeps only its capabilities (the default ones
// unless it asks for others); a confined app (s.Confined) executes under
// no_new_privs and the default seccomp filter unless it asks otherwise.
// beforeExec, if not nil, runs once the command is found, before the
// settings and the change of user. It returns only on failure.
func Exec(s *Spec, beforeExec func() error) error {
	// The parent-death signal belongs to a thread, and a Go program may
	// execute from any of its threads: stay on one from here to the exec.
	runtime.LockOSThread()
	os.Clearenv()
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	uid, gid, err := passwd.Resolve("/", s.User, s.Group)
	if err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	wd := s.WorkingDir
	if wd == "" {
		wd = "/"
	}
	if err := os.Chdir(wd); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("app %s: working directory %s does not exist in the image", s.Name, wd)
		}
		return fmt.Errorf("app %s: working directory %s: %w", s.Name, wd, err)
	}
	path, err := lookPath(s.Exec[0], os.Getenv("PATH"), ".")
	if err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	// In the pod's network namespace, with root's privileges still.
	socks, names, err := openSockets(s.Sockets)
	if err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	// Still with the helper's privileges, to write what it must.
	if beforeExec != nil {
		if err := beforeExec(); err != nil {
			return fmt.Errorf("app %s: %w", s.Name, err)
		}
	}
	env := listenEnv(os.Environ(), names)
	if err := becomeApp(s, uid, gid); err != nil {
		return err
	}
	if err := passSockets(socks); err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	err = syscall.Exec(path, s.Exec, env)
	if errors.Is(err, syscall.ENOENT) {
		if why := missingInterpreter(path, path); why != "" {
			return fmt.Errorf("app %s: %s", s.Name, why)
		}
	}
	return fmt.Errorf("app %s: executing %s: %w", s.Name, path, err)
}

// lookPath finds the program file names as a shell of the app would, on
// pathEnv (the app's PATH), as exec.LookPath does, with the same errors:
// a name with a slash as it is, relative to dir; else the first match in
// pathEnv's folders, which must not be relative. dir is the folder
// relative names start from, for the checks alone: the path returned is
// the one to execute from the app's working directory.
func lookPath(file, pathEnv, dir string) (string, error) {
	if strings.Contains(file, "/") {
		if err := findExecutable(from(dir, file)); err != nil {
			return "", &exec.Error{Name: file, Err: err}
		}
		return file, nil
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		path := filepath.Join(d, file)
		if findExecutable(from(dir, path)) == nil {
			if !filepath.IsAbs(path) {
				return "", &exec.Error{Name: file, Err: exec.ErrDot}
			}
			return path, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

// from is path from dir: path itself if it is absolute.
func from(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// findExecutable checks that file is a file someone may execute.
func findExecutable(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return syscall.EISDIR
	}
	if fi.Mode()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}

// becomeApp gives the calling thread, which executes the app next, what
// binds the app: its resource limits and oom_score_adj, its capabilities,
// user and group, its parent-death signal, and, confined, no_new_privs
// and the seccomp filter, last.
func becomeApp(s *Spec, uid, gid int) error {
	// The app's resource limits and oom_score_adj, with root's privileges
	// still, and after everything else that opens files or allocates much:
	// a low RLIMIT_NOFILE or RLIMIT_AS binds this process too. The app
	// inherits them across execve.
	warnings, err := applySettings(s)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "podctl: %s\n", w)
	}
	caps, err := s.CapabilitySet()
	if err != nil {
		return err
	}
	// The bounding set goes while this process still has CAP_SETPCAP,
	// before the change of user takes it.
	if err := DropCapabilities(caps); err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	if uid != 0 {
		// Kept across the change of user, for the ambient set and the
		// filter; the app executes with its ambient set only.
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("app %s: keeping capabilities: %w", s.Name, err)
		}
	}
	if err := setIDs(uid, gid, s.SupplementaryGIDs); err != nil {
		return fmt.Errorf("app %s: %w", s.Name, err)
	}
	if uid != 0 {
		// A non-root app has no capabilities unless it asked for some.
		if s.Capabilities == nil {
			caps = nil
		}
		if err := raiseAmbient(caps); err != nil {
			return fmt.Errorf("app %s: %w", s.Name, err)
		}
	}
	if s.DieWith != 0 {
		// Armed after the change of user, which would clear it, on the
		// thread that executes the app.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("app %s: asking to die with stage1: %w", s.Name, err)
		}
		if os.Getppid() != s.DieWith {
			return fmt.Errorf("app %s: stage1 is gone", s.Name)
		}
	}
	// Descriptors podctl was given by its caller must not reach the app.
	unix.CloseRange(ErrPipeFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if s.Confined {
		// Last: from here on only the syscalls the filter allows work,
		// and execve is one of them. no_new_privs keeps setuid bits and
		// file capabilities in the image from giving the app more; an
		// app that leaves it unset (--no-new-privileges=false) installs
		// the filter with the CAP_SYS_ADMIN this thread still has.
		if err := seccomp.LoadCustom(s.Seccomp, s.SeccompProgram, !s.NewPrivileges); err != nil {
			return fmt.Errorf("app %s: %w", s.Name, err)
		}
	}
	return nil
}

// setIDs changes the calling thread's groups (gid and the supplementary
// ones), group and user, and no other thread's: the app is executed from
// this thread, whose credentials are the new program's, and the other
// threads end with the execve. Go's syscall.Setuid would stop every thread
// of the process for it.
func setIDs(uid, gid int, supplementary []int) error {
	groups := []uint32{uint32(gid)}
	for _, g := range supplementary {
		groups = append(groups, uint32(g))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setting groups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setting group %d: %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setting user %d: %w", uid, e)
	}
	return nil
}
