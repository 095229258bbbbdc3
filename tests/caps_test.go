package tests

import (
	"strconv"
	"strings"
	"testing"
)

// capMask reads a capability set line (CapEff, CapBnd...) of the
// /proc/self/status an app printed.
func capMask(t *testing.T, status, field string) uint64 {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("%s line %q: %v", field, line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", field, status)
	return 0
}

const (
	capChown          = 0
	capNetBindService = 10
	capSysAdmin       = 21
	// defaultCapsMask are the 14 default capabilities.
	defaultCapsMask = 0xa80425fb
)

// runApp runs one busybox app with flags and a shell script, and returns
// what it printed.
func runApp(e *env, flags []string, script string) result {
	args := append([]string{"run", "--insecure-options=image", busyboxACI}, flags...)
	return e.podctl(append(args, "--exec", "/bin/busybox", "--", "sh", "-c", script)...)
}

// A non-root app given CAP_NET_BIND_SERVICE binds port 80, and has that
// capability only, in every set; without it the bind is refused.
func TestCapsRetainNonRoot(t *testing.T) { forEachFlavor(t, testCapsRetainNonRoot) }

func testCapsRetainNonRoot(t *testing.T, e *env) {
	nobody := []string{"--user=65534", "--group=65534"}
	script := `grep Cap /proc/self/status; /bin/busybox nc -l -p 80 -w 1 2>&1; /bin/busybox chown 65534 /bin/busybox 2>&1; true`
	r := runApp(e, append(nobody, "--caps-retain=cap_net_bind_service"), script)
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	for _, set := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"} {
		if m := capMask(t, r.stdout, set); m != 1<<capNetBindService {
			t.Errorf("%s = %#x, want CAP_NET_BIND_SERVICE only (%#x)", set, m, 1<<capNetBindService)
		}
	}
	// nc listened until its 1 s timeout only if the bind succeeded: any
	// other failure (no nc, another error) would print something else.
	if !strings.Contains(r.stdout, "nc: timed out") {
		t.Errorf("app with CAP_NET_BIND_SERVICE did not listen on port 80: %s", r)
	}
	if !strings.Contains(r.stdout, "chown: /bin/busybox: Operation not permitted") {
		t.Errorf("app without CAP_CHOWN could chown: %s", r)
	}
	r = runApp(e, nobody, script)
	if !strings.Contains(r.stdout, "bind: Permission denied") {
		t.Errorf("non-root app without capabilities bound port 80: %s", r)
	}
	if m := capMask(t, r.stdout, "CapEff"); m != 0 {
		t.Errorf("non-root app without --caps-retain has CapEff %#x, want none", m)
	}
}

// --caps-remove=CAP_CHOWN takes chown from a root app, which has it
// otherwise.
func TestCapsRemove(t *testing.T) { forEachFlavor(t, testCapsRemove) }

func testCapsRemove(t *testing.T, e *env) {
	script := `grep CapBnd /proc/self/status; /bin/busybox chown 65534 /bin/busybox 2>&1 && echo chowned`
	r := runApp(e, nil, script)
	if !strings.Contains(r.stdout, "chowned") {
		t.Errorf("root app could not chown: %s", r)
	}
	r = runApp(e, []string{"--caps-remove=CHOWN"}, script)
	if strings.Contains(r.stdout, "chowned") || !strings.Contains(r.stdout, "Operation not permitted") {
		t.Errorf("root app without CAP_CHOWN could chown: %s", r)
	}
	if m := capMask(t, r.stdout, "CapBnd"); m != defaultCapsMask&^(1<<capChown) {
		t.Errorf("CapBnd = %#x, want the default ones but CAP_CHOWN", m)
	}
}

// A fly app keeps the default capabilities, not all of root's, unless it
// asks for more.
func TestFlyCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	r := runApp(e, nil, "grep CapBnd /proc/self/status")
	if m := capMask(t, r.stdout, "CapBnd"); m != defaultCapsMask {
		t.Errorf("fly app has CapBnd %#x, want the default ones %#x", m, defaultCapsMask)
	}
	r = runApp(e, []string{"--caps-retain=CAP_SYS_ADMIN"}, "grep CapBnd /proc/self/status")
	if m := capMask(t, r.stdout, "CapBnd"); m != 1<<capSysAdmin {
		t.Errorf("fly app with --caps-retain=CAP_SYS_ADMIN has CapBnd %#x", m)
	}
}

// --seccomp mode=remove refuses the named calls with their errno, and
// leaves the others as the default filter has them.
func TestSeccompRemove(t *testing.T) { forEachIsolatedFlavor(t, testSeccompRemove) }

func testSeccompRemove(t *testing.T, e *env) {
	script := `mkdir /made 2>&1 && echo MKDIR-OK; touch /touched && echo touched`
	r := runApp(e, []string{"--seccomp", "mode=remove,errno=ENOTSUP,mkdir,mkdirat"}, script)
	if !strings.Contains(r.stdout, "Operation not supported") || strings.Contains(r.stdout, "MKDIR-OK") {
		t.Errorf("mkdir was not refused with ENOTSUP: %s", r)
	}
	if !strings.Contains(r.stdout, "touched") {
		t.Errorf("touch failed beside the removed mkdir: %s", r)
	}
	if r := runApp(e, nil, script); !strings.Contains(r.stdout, "MKDIR-OK") {
		t.Errorf("mkdir failed under the default filter: %s", r)
	}
}

// retainedCalls are enough for busybox's shell to run echo, and do not
// include mkdir.
const retainedCalls = "arch_prctl,brk,execve,exit_group,getpid,getppid,getrandom,getuid,geteuid,getgid,getegid," +
	"mprotect,newfstatat,stat,fstat,prctl,prlimit64,readlink,rseq,rt_sigaction,rt_sigprocmask,set_robust_list," +
	"set_tid_address,uname,write,read,ioctl,getcwd,wait4,fork,vfork,clone,close,openat,mmap,munmap,lseek,fcntl,dup2"

// --seccomp mode=retain allows only the named calls.
func TestSeccompRetain(t *testing.T) { forEachIsolatedFlavor(t, testSeccompRetain) }

func testSeccompRetain(t *testing.T, e *env) {
	r := runApp(e, []string{"--seccomp", "mode=retain,errno=ENOSYS," + retainedCalls}, `echo hello; mkdir /made 2>&1 && echo MKDIR-OK`)
	if !strings.Contains(r.stdout, "hello") {
		t.Fatalf("echo failed with its calls retained: %s", r)
	}
	if !strings.Contains(r.stdout, "Function not implemented") || strings.Contains(r.stdout, "MKDIR-OK") {
		t.Errorf("mkdir, outside the retained calls, was not refused with ENOSYS: %s", r)
	}
}

// --seccomp=unconfined allows what the default filter refuses (unshare),
// and --no-new-privileges=false leaves no_new_privs unset.
func TestSeccompUnconfined(t *testing.T) { forEachIsolatedFlavor(t, testSeccompUnconfined) }

func testSeccompUnconfined(t *testing.T, e *env) {
	script := `grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; unshare -U true 2>&1 && echo unshared`
	r := runApp(e, nil, script)
	if strings.Contains(r.stdout, "unshared") || !strings.Contains(r.stdout, "Operation not permitted") {
		t.Errorf("unshare was allowed by the default filter: %s", r)
	}
	r = runApp(e, []string{"--seccomp=unconfined"}, script)
	if !strings.Contains(r.stdout, "unshared") {
		t.Errorf("unshare was refused without a filter: %s", r)
	}
	if e.flavor == "native" && !strings.Contains(r.stdout, "Seccomp:\t0") {
		// systemd-nspawn has a filter of its own.
		t.Errorf("native app has a filter with --seccomp=unconfined: %s", r)
	}
	r = runApp(e, []string{"--no-new-privileges=false"}, script)
	if !strings.Contains(r.stdout, "NoNewPrivs:\t0") || !strings.Contains(r.stdout, "Seccomp:\t2") {
		t.Errorf("--no-new-privileges=false: want no_new_privs unset and the filter on: %s", r)
	}
	if r := runApp(e, nil, script); !strings.Contains(r.stdout, "NoNewPrivs:\t1") {
		t.Errorf("no_new_privs not set by default: %s", r)
	}
}

// Bad values are refused in one line before anything is made.
func TestCapsBadValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ flag, want string }{
		{"--caps-retain=CAP_BOGUS", `capability "CAP_BOGUS" is not known: give names as capabilities(7) spells them`},
		{"--caps-remove=chown,", `capability "" is not known`},
		{"--seccomp=mode=retain,nosuchcall", `system call "nosuchcall" is not known`},
		{"--seccomp=mode=remove,errno=EWHAT,mkdir", `errno "EWHAT" is not known`},
		{"--seccomp=mode=keep,mkdir", `mode "keep" is not retain, remove or unconfined`},
		{"--seccomp=mkdir", "begin with mode=retain or mode=remove, or give unconfined"},
	} {
		checkRefused(t, c.flag, e.podctl("run", "--insecure-options=image", busyboxACI, c.flag, "--exec", "/bin/true"), c.want)
	}
	r := e.podctl("run", "--insecure-options=image", busyboxACI, "--caps-retain=chown", "--caps-remove=kill", "--exec", "/bin/true")
	checkRefused(t, "both caps flags", r, "give --caps-retain or --caps-remove, not both")
	if pods := e.list(); len(pods) != 0 {
		t.Errorf("refused commands left pods: %+v", pods)
	}
}

// A capability beyond the default ones reaches a root app of every
// flavor, systemd's through systemd-nspawn's own bounding set.
func TestCapsRetainBeyondDefault(t *testing.T) { forEachFlavor(t, testCapsRetainBeyondDefault) }

func testCapsRetainBeyondDefault(t *testing.T, e *env) {
	const capNetAdmin, capSysTime = 12, 25
	r := runApp(e, []string{"--caps-retain=CAP_NET_ADMIN,sys_time"}, "grep -E 'Cap(Eff|Bnd)' /proc/self/status")
	for _, set := range []string{"CapEff", "CapBnd"} {
		if m := capMask(t, r.stdout, set); m != 1<<capNetAdmin|1<<capSysTime {
			t.Errorf("%s = %#x, want CAP_NET_ADMIN and CAP_SYS_TIME only: %s", set, m, r)
		}
	}
}
