// Package profile holds podctl's default seccomp profile as data and turns
// it into a BPF program with go-seccomp-bpf. The program for amd64 is
// generated from it ahead of time (see package seccomp), so a pod start
// spends no time assembling it; only an app's own filter (custom.go,
// --seccomp) is assembled when the app starts.
//
// The profile is the one Docker applies to a container that keeps
// the default capabilities: the 14 of DropCapabilities, none of
// CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_TIME, CAP_BPF,
// CAP_PERFMON... So it refuses, with EPERM, what needs those: namespaces
// (unshare, setns, clone with namespace flags), mounts (mount, umount2,
// pivot_root, the new mount API), bpf, perf_event_open, the key rings
// (keyctl, add_key, request_key), kernel modules, kexec, reboot, swap,
// the clocks, quotas, open_by_handle_at, userfaultfd, kcmp, pidfd_getfd,
// process_madvise, syslog, iopl/ioperm, vhangup and every system call the
// table below does not name.
//
// The table names the calls of the 64-bit ABIs podctl runs on (amd64 and
// arm64); a name one of them lacks is left out when the filter is built for
// it. go-seccomp-bpf assembles a linear chain of comparisons, in which the
// calls programs make most come first; a binary search on the call number
// goes in front of it (search.go), and only the calls whose arguments are
// looked at go on to what is left of the chain.
package profile

import (
	"fmt"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// allowed are the system calls allowed whatever their arguments.
var allowed = []string{
	// The hottest calls: I/O, waiting, memory and signals.
	"read", "write", "futex", "epoll_pwait", "epoll_wait", "epoll_ctl",
	"nanosleep", "clock_nanosleep", "clock_gettime", "sched_yield",
	"mmap", "munmap", "madvise", "mprotect", "brk",
	"rt_sigprocmask", "rt_sigreturn", "rt_sigaction", "getpid", "gettid",
	"tgkill", "close", "openat", "newfstatat", "fstat", "statx", "lseek",
	"pread64", "pwrite64", "readv", "writev", "recvfrom", "sendto",
	"recvmsg", "sendmsg", "ppoll", "pselect6", "poll", "select", "fcntl",
	"getrandom", "faccessat", "faccessat2", "getdents64",

	// Files and directories.
	"open", "openat2", "creat", "access", "stat", "lstat", "readlink",
	"readlinkat", "getdents", "getcwd", "chdir", "fchdir", "mkdir",
	"mkdirat", "rmdir", "rename", "renameat", "renameat2", "link",
	"linkat", "symlink", "symlinkat", "unlink", "unlinkat", "mknod",
	"mknodat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown",
	"fchownat", "umask", "truncate", "ftruncate", "fallocate", "fadvise64",
	"readahead", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
	"flock", "statfs", "fstatfs", "utime", "utimes", "utimensat",
	"futimesat", "name_to_handle_at", "copy_file_range", "sendfile",
	"splice", "tee", "vmsplice", "preadv", "preadv2", "pwritev", "pwritev2",
	"setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr",
	"fgetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
	"lremovexattr", "fremovexattr", "fanotify_mark", "inotify_init",
	"inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"chroot", // CAP_SYS_CHROOT is one of the defaults.

	// Descriptors, polling and events.
	"dup", "dup2", "dup3", "pipe", "pipe2", "close_range", "epoll_create",
	"epoll_create1", "epoll_pwait2", "epoll_ctl_old", "epoll_wait_old",
	"eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
	"timerfd_settime", "timerfd_gettime", "memfd_create", "memfd_secret",
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
	"io_pgetevents", "io_uring_setup", "io_uring_enter",
	"io_uring_register",

	// Sockets (socket itself is in the conditional rules).
	"socketpair", "bind", "listen", "accept", "accept4", "connect",
	"shutdown", "getsockname", "getpeername", "getsockopt", "setsockopt",
	"recvmmsg", "sendmmsg",

	// Memory.
	"mremap", "msync", "mincore", "mlock", "mlock2", "mlockall", "munlock",
	"munlockall", "remap_file_pages", "membarrier", "pkey_alloc",
	"pkey_free", "pkey_mprotect",

	// Processes, threads and scheduling (clone is conditional).
	"execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4",
	"waitid", "set_tid_address", "set_robust_list", "get_robust_list",
	"rseq", "restart_syscall", "getppid", "getpgid", "setpgid", "getpgrp",
	"getsid", "setsid", "getpriority", "setpriority", "ioprio_get",
	"ioprio_set", "sched_getaffinity", "sched_setaffinity",
	"sched_getattr", "sched_setattr", "sched_getparam", "sched_setparam",
	"sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
	"sched_get_priority_min", "sched_rr_get_interval", "getcpu", "prctl",
	"getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "sysinfo",
	"uname", "capget", "capset", "seccomp", "landlock_create_ruleset",
	"landlock_add_rule", "landlock_restrict_self", "pidfd_open",
	"pidfd_send_signal", "process_mrelease", "futex_waitv",
	"get_thread_area", "set_thread_area",

	// Credentials: what the process may do with them, the kernel decides.
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
	"getgroups", "setuid", "setgid", "setreuid", "setregid", "setresuid",
	"setresgid", "setgroups", "setfsuid", "setfsgid",

	// Signals.
	"kill", "tkill", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause",

	// Time and timers (reading the clocks, not setting them).
	"gettimeofday", "time", "clock_getres", "clock_adjtime", "adjtimex",
	"alarm", "getitimer", "setitimer", "timer_create", "timer_delete",
	"timer_settime", "timer_gettime", "timer_getoverrun",

	// System V and POSIX IPC, in the pod's own IPC namespace.
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop",
	"semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open",
	"mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
	"mq_getsetattr",

	// Architecture calls: amd64's TLS and LDT.
	"arch_prctl", "modify_ldt",
}

// cloneNamespaceFlags are the clone flags that make new namespaces
// (0x7e020000). CLONE_NEWTIME is not among them: its bit lies in clone's
// exit-signal byte, and only clone3 and unshare take it.
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP |
	unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET

// personalities are the personality(2) arguments allowed: PER_LINUX,
// PER_LINUX32, UNAME26, UNAME26|PER_LINUX32 and the 0xffffffff query.
var personalities = []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// afVsock is AF_VSOCK, refused to socket(2): a vsock reaches the host or
// other machines without crossing the pod's network namespace.
const afVsock = unix.AF_VSOCK

// tracingCalls are allowed on Linux 4.8 and later only: before it, a
// tracer could change a traced call after the filter had passed it.
var tracingCalls = []string{"ptrace", "process_vm_readv", "process_vm_writev"}

// actionENOSYS makes clone3 look absent, so libc and Go fall back to clone,
// whose flags the filter can see (clone3 passes them in memory).
const actionENOSYS = libseccomp.ActionErrno | libseccomp.Action(unix.ENOSYS)

// conditional returns the rules that look at arguments. A call matches a
// rule when all of its conditions hold, and is allowed when one of the rules
// for its name matches.
func conditional() []libseccomp.NameWithConditions {
	rules := []libseccomp.NameWithConditions{
		// clone without any namespace flag. The flags are the first argument
		// on amd64 and arm64 (s390 differs, and podctl does not run there).
		{Name: "clone", Conditions: libseccomp.ArgumentConditions{
			{Argument: 0, Operation: libseccomp.BitsNotSet, Value: cloneNamespaceFlags},
		}},
		// socket for every family but AF_VSOCK. The kernel reads the family as
		// an int, so the upper half of the register must be zero for the
		// comparison to mean what the kernel sees: Docker's "!= 40" on the
		// whole register would let 0x100000028 through.
		{Name: "socket", Conditions: libseccomp.ArgumentConditions{
			{Argument: 0, Operation: libseccomp.LessThan, Value: afVsock},
		}},
		{Name: "socket", Conditions: libseccomp.ArgumentConditions{
			{Argument: 0, Operation: libseccomp.GreaterThan, Value: afVsock},
			{Argument: 0, Operation: libseccomp.LessOrEqual, Value: 0xffffffff},
		}},
	}
	// ioctl, but for the two requests that type into a terminal: an app
	// given the caller's terminal (--interactive, enter) could otherwise
	// push keystrokes into the host shell that runs once it ends. Docker
	// allows them, as it gives a container a terminal of its own. The kernel
	// reads the request as an unsigned int: the upper half must be zero.
	rules = append(rules, libseccomp.NameWithConditions{Name: "ioctl", Conditions: libseccomp.ArgumentConditions{
		{Argument: 1, Operation: libseccomp.NotEqual, Value: unix.TIOCSTI},
		{Argument: 1, Operation: libseccomp.NotEqual, Value: unix.TIOCLINUX},
		{Argument: 1, Operation: libseccomp.LessOrEqual, Value: 0xffffffff},
	}})
	for _, p := range personalities {
		rules = append(rules, libseccomp.NameWithConditions{
			Name: "personality",
			Conditions: libseccomp.ArgumentConditions{
				{Argument: 0, Operation: libseccomp.Equal, Value: p},
			},
		})
	}
	return rules
}

// Policy returns the default profile for the architecture podctl was built
// for: EPERM for every call it does not allow, ENOSYS for clone3. The
// tracing calls (ptrace, process_vm_readv/writev) are allowed when tracing
// is true, which the caller chooses on Linux 4.8 or later. Calls of
// another architecture or ABI (i386 and x32 on amd64, arm on arm64) are
// refused too, which is stricter than Docker: 32-bit programs do not run
// under it.
func Policy(tracing bool) (libseccomp.Policy, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return libseccomp.Policy{}, fmt.Errorf("seccomp policy: %w", err)
	}
	known := func(name string) bool {
		_, ok := info.SyscallNames[name]
		return ok
	}
	var names []string
	for _, n := range allowed {
		if known(n) {
			names = append(names, n)
		}
	}
	if tracing {
		names = append(names, tracingCalls...)
	}
	var withArgs []libseccomp.NameWithConditions
	for _, c := range conditional() {
		if known(c.Name) {
			withArgs = append(withArgs, c)
		}
	}
	groups := []libseccomp.SyscallGroup{
		{Names: names, NamesWithCondtions: withArgs, Action: libseccomp.ActionAllow},
		{Names: []string{"clone3"}, Action: actionENOSYS},
	}
	return libseccomp.Policy{DefaultAction: libseccomp.ActionErrno, Syscalls: groups}, nil
}

// Program assembles Policy(tracing) into the BPF program seccomp(2) takes.
func Program(tracing bool) ([]unix.SockFilter, error) {
	policy, err := Policy(tracing)
	if err != nil {
		return nil, err
	}
	return assemble(policy)
}

// assemble turns a policy into the BPF program seccomp(2) takes: the
// library's chain behind a search on the call number (withSearch).
func assemble(policy libseccomp.Policy) ([]unix.SockFilter, error) {
	chain, err := assembleChain(policy)
	if err != nil {
		return nil, err
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp policy: %w", err)
	}
	runs, err := searchRuns(chain, uint32(info.ID))
	if err != nil {
		return nil, err
	}
	tail := chain
	if r, ok := residual(policy, runs, info.SyscallNames); ok {
		if tail, err = assembleChain(r); err != nil {
			return nil, err
		}
	}
	return withSearch(runs, tail, uint32(info.ID))
}

// assembleChain turns a policy into go-seccomp-bpf's chain.
func assembleChain(policy libseccomp.Policy) ([]unix.SockFilter, error) {
	insts, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assembling the seccomp policy: %w", err)
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("assembling the seccomp program: %w", err)
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return prog, nil
}
