package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The native flavor's isolation, seen from inside a pod. The flavor also
// runs the whole conformance suite (forEachFlavor).

func nativeEnv(t *testing.T) *env {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	e.fetchBusybox()
	return e
}

// runSh runs a one-app native pod of busybox sh -c script and returns its
// output, failing the test unless it exits 0.
func (e *env) runSh(script string, flags ...string) string {
	e.t.Helper()
	args := append([]string{"run", "example.com/busybox"}, flags...)
	r := e.podctl(append(args, "--exec", "/bin/sh", "--", "-c", script)...)
	if r.code != 0 {
		e.t.Fatalf("pod running %q: %s", script, r)
	}
	return r.stdout
}

func TestNativeIsolation(t *testing.T) {
	e := nativeEnv(t)
	out := e.runSh(`
		echo "init=$(tr '\0' ' ' < /proc/1/cmdline)"
		echo "host=$(hostname)"
		echo "pids=$(ls -d /proc/[0-9]* | wc -l)"
		echo "nets=$(ls /sys/class/net | tr '\n' ' ')"
		touch /sys/kernel/x 2>/dev/null && echo sys-writable
		echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo proc-sys-writable
		mount -t tmpfs none /mnt 2>/dev/null && echo can-mount
		echo "keys=$(wc -c < /proc/keys)"
		echo "dev=$(ls /dev | tr '\n' ' ')"
		cut -d' ' -f5 /proc/self/mountinfo | sort | tr '\n' ' '`)
	uuid := e.list()[0].UUID
	want := []string{
		"init=podctl stage1 native-init ",
		"host=podctl-" + uuid[:8] + "\n",
		// Its own namespace, on the tests' default network.
		"nets=eth0 lo \n",
		"keys=0\n",
		"dev=fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("want %q in:\n%s", w, out)
		}
	}
	for _, bad := range []string{"sys-writable", "proc-sys-writable", "can-mount"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s:\n%s", bad, out)
		}
	}
	// The init, the shell, the command substitution's subshell, ls and
	// perhaps wc: none of the host's many processes.
	if !strings.Contains(out, "pids=4\n") && !strings.Contains(out, "pids=5\n") {
		t.Errorf("processes other than the pod's are visible:\n%s", out)
	}
	// Only the pod's own mounts, none of the host's: its hosts and
	// resolv.conf are the pod's.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, m := range strings.Fields(lines[len(lines)-1]) {
		ok := m == "/" || m == "/etc/hosts" || m == "/etc/resolv.conf"
		for _, p := range []string{"/proc", "/dev", "/sys"} {
			ok = ok || m == p || strings.HasPrefix(m, p+"/")
		}
		if !ok {
			t.Errorf("mount %s is visible in the pod: %s", m, lines[len(lines)-1])
		}
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), uuid) {
		t.Errorf("a mount of pod %s shows on the host", uuid)
	}
}

// stage1 makes an app's mount namespace, its root set up, while the init
// starts (kit.MakeAppNamespace); the init mounts the app's /proc there
// and forks the app in it. The app sees what an init-made root gives:
// the pod's processes in /proc, masked, read-only where the host's
// kernel could be changed; the pod's network in /sys; none of the host's
// mounts. A pod ready on notify gets its root from the init, which gives
// the app its notify socket.
func TestNativeAppNamespaceAhead(t *testing.T) {
	e := nativeEnv(t)
	r := e.podctl("run", "--debug", "--net=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", `
		echo "init=$(tr '\0' ' ' < /proc/1/cmdline)"
		echo "pids=$(ls -d /proc/[0-9]* | wc -l)"
		echo "nets=$(ls /sys/class/net | tr '\n' ' ')"
		echo "keys=$(wc -c < /proc/keys)"
		echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo proc-sys-writable
		echo "mounts=$(cut -d' ' -f5 /proc/self/mountinfo | tr '\n' ' ')"`)
	if r.code != 0 || !strings.Contains(r.stderr, "app busybox: its mount namespace made ahead") {
		t.Fatalf("a pod whose app's namespace stage1 makes: %s", r)
	}
	for _, w := range []string{"init=podctl stage1 native-init \n", "nets=lo \n", "keys=0\n", "mounts=/ /dev "} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("want %q in:\n%s", w, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "pids=4\n") && !strings.Contains(r.stdout, "pids=5\n") {
		t.Errorf("processes other than the pod's are visible:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "proc-sys-writable") {
		t.Errorf("/proc/sys is writable:\n%s", r.stdout)
	}
	// /proc is mounted last, by the init, in the namespace stage1 made.
	mounts := strings.Fields(strings.TrimPrefix(r.stdout[strings.Index(r.stdout, "mounts="):], "mounts="))
	first := slices.Index(mounts, "/proc")
	if first < 0 || first < slices.Index(mounts, "/etc/resolv.conf") || first < slices.Index(mounts, "/sys") {
		t.Errorf("/proc is not mounted after the rest of the root: %v", mounts)
	}
	for _, m := range mounts[first:] {
		if m != "/proc" && !strings.HasPrefix(m, "/proc/") {
			t.Errorf("mount %s made after /proc: %v", m, mounts)
		}
	}
	r = e.podctl("run", "--debug", "--net=none", "--ready=notify", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", `test -S "$NOTIFY_SOCKET" && echo socket`)
	if r.code != 0 || r.stdout != "socket\n" || strings.Contains(r.stderr, "made ahead") {
		t.Fatalf("a pod ready on notify: %s", r)
	}
}

// An app whose namespace stage1 could not make has its root set up by
// the init, which says why it cannot either, in one line: a volume whose
// target goes through a file of the image.
func TestNativeAppNamespaceFallsBack(t *testing.T) {
	e := nativeEnv(t)
	vol := t.TempDir()
	r := e.podctl("run", "--debug", "--net=none", "--volume", "vol,kind=host,source="+vol, "example.com/busybox", "--mount", "volume=vol,target=/bin/busybox/x", "--exec", "/bin/true")
	const why = "/bin/busybox/x in the app's root is not a folder"
	if r.code != 254 || !strings.Contains(r.stderr, "stage1: app busybox: making its mount namespace ahead: "+why) || lastLine(r.stderr) != "podctl: app busybox: "+why+": not a directory" {
		t.Fatalf("a pod whose volume goes through a file of its image: %s", r)
	}
	if m := mountsUnder(t, e.dir); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// Two apps share the pod's PID namespace, not their files.
func TestNativeTwoAppsShareProcessesNotFiles(t *testing.T) {
	e := nativeEnv(t)
	r := e.podctl("run",
		"example.com/busybox", "--name", "writer", "--exec", "/bin/sh", "--", "-c", "echo mine > /tmp/writers-file; exec sleep 5", "---",
		"example.com/busybox", "--name", "reader", "--exec", "/bin/sh", "--", "-c",
		`sleep 0.5; grep -l 'sleep.5' /proc/[0-9]*/cmdline >/dev/null && echo sees-writer; test -e /tmp/writers-file && echo sees-file; exit 4`)
	if r.code != 4 || !strings.Contains(r.stdout, "sees-writer") || strings.Contains(r.stdout, "sees-file") {
		t.Fatalf("two apps: %s", r)
	}
}

// SIGTERM to podctl run reaches the app, which ends as it chooses; run
// exits as the signal says (143), the app's code is in its status.
func TestNativeSIGTERMReachesApps(t *testing.T) {
	e := nativeEnv(t)
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sh", "--", "-c", `trap 'echo got-term > /tmp/t; exit 3' TERM; while :; do sleep 0.1; done`)
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != 143 {
		t.Fatalf("run after SIGTERM: %v", err)
	}
	if st := e.status(uuid); st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 3 {
		t.Fatalf("status after SIGTERM: %+v", st)
	}
}

// Orphans the apps leave are reaped by the pod's init.
func TestNativeReapsZombies(t *testing.T) {
	e := nativeEnv(t)
	// Each ( ... & ) leaves a sleeper whose parent exits at once: the
	// sleeper becomes the init's, and a zombie when it ends.
	out := e.runSh(`for i in 1 2 3 4 5; do (sleep 0.1 &); done; sleep 1
		for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done | tr '\n' ' '`)
	if strings.Contains(out, "Z") {
		t.Fatalf("zombies left in the pod: %s", out)
	}
}

// enter reaches the app's namespaces: its host name, its processes.
func TestNativeEnter(t *testing.T) {
	e := nativeEnv(t)
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	defer cmd.Wait()
	r := e.enterUntil(uuid, "/bin/sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '")
	if r.code != 0 || !strings.Contains(r.stdout, "podctl-"+uuid[:8]) || !strings.Contains(r.stdout, "native-init") {
		t.Fatalf("enter: %s", r)
	}
	start := time.Now()
	e.must("stop", uuid)
	if cmd.Wait(); cmd.ProcessState.ExitCode() != 143 || time.Since(start) > 5*time.Second {
		t.Fatalf("stop: exit %d after %s", cmd.ProcessState.ExitCode(), time.Since(start))
	}
}

// A pod that cannot be prepared after its init was started early fails as
// any other: one line, exit 254, no pod.
func TestNativeEarlyInitAborted(t *testing.T) {
	e := nativeEnv(t)
	r := e.podctl("run", "example.com/no-such-image")
	if r.code != 254 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "no-such-image") {
		t.Fatalf("run of a missing image: %s", r)
	}
	if pods := e.list(); len(pods) != 0 {
		t.Fatalf("pods left: %+v", pods)
	}
}

// Each start of an app gets a /dev of device nodes, never of binds: the
// first from stage1 (made ahead), a restart's from the init's forking
// thread, which has left the app's device cgroup, which refuses mknod,
// by then. A thread still in it would bind the host's nodes instead.
func TestNativeRestartDevNodes(t *testing.T) {
	e := nativeEnv(t)
	r := e.podctl("run", "--restart=on-failure:1", "--restart-backoff=10ms", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
		`echo "binds=$(awk '$5 ~ "^/dev/(null|zero|urandom)$"' /proc/self/mountinfo | wc -l) $(stat -c %t:%T /dev/null)"; exit 3`)
	if r.code != 3 || r.stdout != "binds=0 1:3\nbinds=0 1:3\n" {
		t.Fatalf("an app restarted once, reporting its /dev's mounts: %s", r)
	}
}

// The pod's init moves into its own cgroup (_init, below the pod's) once
// the apps have run a while: not at once, where the kernel's lock for
// moving a process would hold a short pod's end (joinLater).
func TestNativeInitJoinsItsCgroup(t *testing.T) {
	e := nativeEnv(t)
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	defer cmd.Wait()
	defer e.podctl("stop", uuid)
	init := childOf(t, cmd.Process.Pid)
	initDir := filepath.Join(e.podCgroups(uuid)[0], "_init")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if slices.Contains(cgroupProcs(initDir), strconv.Itoa(init)) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", init))
			t.Fatalf("the pod's init (%d) is not in %s after 30 s; its cgroups:\n%s", init, initDir, b)
		}
	}
}

// childOf is the pid of the one child of process pid, which any of its
// threads may have forked.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(files) == 0 {
		t.Fatalf("process %d: no threads: %v", pid, err)
	}
	var f []string
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f = append(f, strings.Fields(string(b))...)
	}
	if len(f) != 1 {
		t.Fatalf("process %d has children %v, want one", pid, f)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
