package profile

import (
	"testing"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Verdicts a seccomp program returns.
const (
	allow  = unix.SECCOMP_RET_ALLOW
	eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

// filter runs a program on seccomp_data in x/net/bpf's virtual machine.
type filter struct {
	t  *testing.T
	vm *bpf.VM
}

func newFilter(t *testing.T, tracing bool) filter {
	t.Helper()
	prog, err := Program(tracing)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > unix.BPF_MAXINSNS {
		t.Fatalf("program has %d instructions, the kernel takes %d", len(prog), unix.BPF_MAXINSNS)
	}
	return filter{t: t, vm: vmOf(t, prog)}
}

// verdict is what the program says of call nr of architecture auditArch
// with args (run).
func (f filter) verdict(auditArch, nr uint32, args ...uint64) uint32 {
	f.t.Helper()
	var six [6]uint64
	copy(six[:], args)
	return run(f.t, f.vm, auditArch, nr, six)
}

// call is verdict for a call named for the native architecture.
func (f filter) call(name string, args ...uint64) uint32 {
	f.t.Helper()
	info := nativeArch(f.t)
	nr, ok := info.SyscallNames[name]
	if !ok {
		f.t.Fatalf("%s has no %s", info.Name, name)
	}
	return f.verdict(uint32(info.ID), uint32(nr), args...)
}

func nativeArch(t testing.TB) *arch.Info {
	t.Helper()
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestNamesKnown catches a misspelt name: a name neither amd64 nor arm64
// knows would be left out silently.
func TestNamesKnown(t *testing.T) {
	names := append(append([]string{"clone3"}, allowed...), tracingCalls...)
	for _, c := range conditional() {
		names = append(names, c.Name)
	}
	for _, n := range names {
		_, amd64 := arch.X86_64.SyscallNames[n]
		_, arm64 := arch.AARCH64.SyscallNames[n]
		if !amd64 && !arm64 {
			t.Errorf("%q is a system call of neither amd64 nor arm64", n)
		}
	}
	seen := map[string]bool{}
	for _, n := range append(allowed, tracingCalls...) {
		if seen[n] {
			t.Errorf("%q is listed twice", n)
		}
		seen[n] = true
	}
}

// TestRefused checks the calls Docker refuses to a container without
// CAP_SYS_ADMIN and the other capabilities podctl drops.
func TestRefused(t *testing.T) {
	f := newFilter(t, true)
	info := nativeArch(t)
	refused := []string{
		"unshare", "setns", "mount", "umount2", "pivot_root", "bpf",
		"perf_event_open", "keyctl", "add_key", "request_key",
		"kexec_load", "kexec_file_load", "init_module", "finit_module",
		"delete_module", "open_by_handle_at", "userfaultfd", "reboot",
		"swapon", "swapoff", "settimeofday", "clock_settime", "acct",
		"quotactl", "quotactl_fd", "syslog", "kcmp", "pidfd_getfd",
		"process_madvise", "fsopen", "fsconfig", "fsmount", "fspick",
		"move_mount", "open_tree", "mount_setattr", "lookup_dcookie",
		"vhangup", "sethostname", "setdomainname", "fanotify_init",
		"get_mempolicy", "set_mempolicy", "mbind", "move_pages",
		"migrate_pages", "iopl", "ioperm", "nfsservctl", "uselib",
		"ustat", "sysfs", "_sysctl", "create_module", "get_kernel_syms",
		"query_module", "vm86", "vm86old",
	}
	checked := 0
	for _, n := range refused {
		nr, ok := info.SyscallNames[n]
		if !ok {
			continue // not a call of this architecture
		}
		checked++
		if v := f.verdict(uint32(info.ID), uint32(nr)); v != eperm {
			t.Errorf("%s: verdict %#x, want EPERM", n, v)
		}
	}
	if checked < 40 {
		t.Errorf("only %d of the refused calls exist on %s", checked, info.Name)
	}
}

// TestVerdicts checks the rules that look at arguments, the architecture
// check and the default.
func TestVerdicts(t *testing.T) {
	f := newFilter(t, true)
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES |
		unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM |
		unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
	cases := []struct {
		name string
		call string
		args []uint64
		want uint32
	}{
		{"read", "read", nil, allow},
		{"execve", "execve", nil, allow},
		{"thread", "clone", []uint64{threadFlags}, allow},
		{"fork", "clone", []uint64{uint64(unix.SIGCHLD)}, allow},
		{"vfork", "clone", []uint64{unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | uint64(unix.SIGCHLD)}, allow},
		{"clone newns", "clone", []uint64{unix.CLONE_NEWNS}, eperm},
		{"clone newuts", "clone", []uint64{unix.CLONE_NEWUTS | uint64(unix.SIGCHLD)}, eperm},
		{"clone newipc", "clone", []uint64{unix.CLONE_NEWIPC}, eperm},
		{"clone newuser", "clone", []uint64{unix.CLONE_NEWUSER}, eperm},
		{"clone newpid", "clone", []uint64{unix.CLONE_NEWPID}, eperm},
		{"clone newnet", "clone", []uint64{unix.CLONE_NEWNET}, eperm},
		{"clone newcgroup", "clone", []uint64{unix.CLONE_NEWCGROUP | threadFlags}, eperm},
		{"clone3", "clone3", nil, enosys},
		{"socket unix", "socket", []uint64{unix.AF_UNIX}, allow},
		{"socket inet6", "socket", []uint64{unix.AF_INET6}, allow},
		{"socket netlink", "socket", []uint64{unix.AF_NETLINK}, allow},
		{"socket after vsock", "socket", []uint64{unix.AF_VSOCK + 1}, allow},
		{"socket vsock", "socket", []uint64{unix.AF_VSOCK}, eperm},
		{"socket vsock high bits", "socket", []uint64{1<<32 | unix.AF_VSOCK}, eperm},
		{"personality linux", "personality", []uint64{0}, allow},
		{"personality linux32", "personality", []uint64{0x8}, allow},
		{"personality uname26", "personality", []uint64{0x20000}, allow},
		{"personality uname26 linux32", "personality", []uint64{0x20008}, allow},
		{"personality query", "personality", []uint64{0xffffffff}, allow},
		{"personality no randomize", "personality", []uint64{0x0040000}, eperm},
		{"personality high bits", "personality", []uint64{1 << 32}, eperm},
		{"ioctl TCGETS", "ioctl", []uint64{0, unix.TCGETS}, allow},
		{"ioctl TIOCGWINSZ", "ioctl", []uint64{0, unix.TIOCGWINSZ}, allow},
		{"ioctl TIOCSTI", "ioctl", []uint64{0, unix.TIOCSTI}, eperm},
		{"ioctl TIOCLINUX", "ioctl", []uint64{0, unix.TIOCLINUX}, eperm},
		{"ioctl TIOCSTI high bits", "ioctl", []uint64{0, 1<<32 | unix.TIOCSTI}, eperm},
		{"ptrace", "ptrace", nil, allow},
		{"chroot", "chroot", nil, allow},
	}
	for _, c := range cases {
		if v := f.call(c.call, c.args...); v != c.want {
			t.Errorf("%s: verdict %#x, want %#x", c.name, v, c.want)
		}
	}

	info := nativeArch(t)
	if v := f.verdict(uint32(info.ID), 4000); v != eperm {
		t.Errorf("unknown call: verdict %#x, want EPERM", v)
	}
	// The call numbers of another architecture mean other calls: i386's
	// 3 is read, whatever 3 means here.
	if v := f.verdict(uint32(arch.I386.ID), uint32(arch.I386.SyscallNames["read"])); v != eperm {
		t.Errorf("i386 read: verdict %#x, want EPERM", v)
	}
	if info.ID == arch.X86_64.ID {
		if v := f.verdict(uint32(arch.X32.ID), uint32(arch.X32.SeccompMask|arch.X32.SyscallNames["read"])); v != enosys {
			t.Errorf("x32 read: verdict %#x, want ENOSYS", v)
		}
	}
}

// TestTracing checks that the tracing calls go with the tracing switch.
func TestTracing(t *testing.T) {
	with, without := newFilter(t, true), newFilter(t, false)
	for _, n := range tracingCalls {
		if v := with.call(n); v != allow {
			t.Errorf("%s with tracing: verdict %#x, want allow", n, v)
		}
		if v := without.call(n); v != eperm {
			t.Errorf("%s without tracing: verdict %#x, want EPERM", n, v)
		}
	}
}

// TestPolicyValid checks the policy passes go-seccomp-bpf's own checks.
func TestPolicyValid(t *testing.T) {
	p, err := Policy(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != libseccomp.ActionErrno {
		t.Errorf("default action %v, want errno (EPERM)", p.DefaultAction)
	}
}
