package kit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/fsutil"
	"podctl/lifecycle"
	"podctl/stage1"
)

// envHoldPod makes the test binary a pod's stage1 (see holdPod).
const envHoldPod = "STAGE1_TEST_HOLD_POD"

func TestMain(m *testing.M) {
	if dataDir := os.Getenv(envHoldPod); dataDir != "" {
		if err := holdPod(dataDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdPod plays a pod's stage1 in a process of its own: it creates a
// running pod, whose lock it holds, records its pid, makes the pod's
// cgroup through NewPodCgroup and starts an app there (sleep) that
// inherits the pod's directory, lock included. It prints "UUID APPPID",
// then "term" for each SIGTERM, and exits when stdin closes, leaving the
// app and its cgroup to the test.
func holdPod(dataDir string) error {
	if err := lifecycle.Init(dataDir); err != nil {
		return err
	}
	p, err := lifecycle.NewPod(dataDir)
	if err != nil {
		return err
	}
	if err := p.ToRun(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(p.Path(), lifecycle.DirStage1), 0o700); err != nil {
		return err
	}
	WritePodPid(p)
	g, err := NewPodCgroup(p)
	if err != nil {
		return err
	}
	app := exec.Command("sleep", "600")
	app.ExtraFiles = []*os.File{p.LockFile()}
	join, err := cgroup.StartIn(app, g.Dirs[0])
	if err != nil {
		return err
	}
	if err := join(); err != nil {
		return err
	}
	terms := make(chan os.Signal, 4)
	signal.Notify(terms, syscall.SIGTERM)
	fmt.Printf("%s %d\n", p.UUID, app.Process.Pid)
	eof := make(chan struct{})
	go func() {
		os.Stdin.Read(make([]byte, 1))
		close(eof)
	}()
	for {
		select {
		case <-terms:
			fmt.Println("term")
		case <-eof:
			return nil
		}
	}
}

func wantBadPid(t *testing.T, what string, err error) {
	t.Helper()
	var bad *stage1.BadPidError
	if !errors.As(err, &bad) {
		t.Errorf("%s: %v, want a stage1.BadPidError", what, err)
	}
}

// A pod's stage1, its app and a bystander in three processes: only the
// process that holds the pod's lock passes as stage1, only the app as a
// process of the pod; a pid record that names another is not signalled,
// and a forced stop then kills the pod's cgroup, not the bystander.
func TestRecordedPids(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes cgroups and must run as root")
	}
	dataDir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), envHoldPod+"="+dataDir)
	holder.Stderr = os.Stderr
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); holder.Wait() }()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("the holder did not start its pod: %v", lines.Err())
	}
	var uuid string
	var appPid int
	if _, err := fmt.Sscanf(lines.Text(), "%s %d", &uuid, &appPid); err != nil {
		t.Fatalf("holder said %q: %v", lines.Text(), err)
	}
	defer syscall.Kill(appPid, syscall.SIGKILL)
	p, err := lifecycle.PodFromUUIDString(dataDir, uuid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.State() != lifecycle.Running {
		t.Fatalf("pod is %s", p.State())
	}
	g, err := stage1.PodGroup(p)
	if err != nil || g == nil {
		t.Fatalf("pod group %v, %v", g, err)
	}
	defer RemovePodCgroup(p)

	holderPid := holder.Process.Pid
	if err := stage1.CheckStage1Pid(p, holderPid); err != nil {
		t.Errorf("the lock holder: %v", err)
	}
	wantBadPid(t, "this test's own pid", stage1.CheckStage1Pid(p, os.Getpid()))
	wantBadPid(t, "the app, which has the pod open but did not lock it", stage1.CheckStage1Pid(p, appPid))
	for _, pid := range []int{1, 0, -1} {
		wantBadPid(t, fmt.Sprintf("pid %d", pid), stage1.CheckStage1Pid(p, pid))
	}
	if err := stage1.CheckPidInPod(p, appPid); err != nil {
		t.Errorf("the app: %v", err)
	}
	wantBadPid(t, "the holder, outside the pod's cgroup", stage1.CheckPidInPod(p, holderPid))
	wantBadPid(t, "this test's pid", stage1.CheckPidInPod(p, os.Getpid()))

	// A graceful stop reaches the holder; one whose pid record names a
	// bystander signals nobody.
	bystander := exec.Command("sleep", "600")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { bystander.Process.Kill(); bystander.Wait() }()
	pidFile := filepath.Join(p.Path(), lifecycle.FilePid)
	if err := SignalStage1(p, false); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		lines.Scan()
		got <- lines.Text()
	}()
	select {
	case s := <-got:
		if s != "term" {
			t.Fatalf("the holder said %q", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the holder never got SIGTERM")
	}
	for _, rec := range []string{strconv.Itoa(bystander.Process.Pid), strconv.Itoa(appPid), "1"} {
		if err := fsutil.WriteFile(pidFile, []byte(rec), 0o600, false); err != nil {
			t.Fatal(err)
		}
		wantBadPid(t, "stop with pid record "+rec, SignalStage1(p, true))
		if !stage1.Alive(bystander.Process.Pid) || !stage1.Alive(appPid) {
			t.Fatalf("stop with pid record %s killed a process", rec)
		}
	}

	// The holder ends; the app keeps the lock. The kernel still lists the
	// holder's pid, which now names no process that has the pod open.
	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatal(err)
	}
	wantBadPid(t, "the dead locker", stage1.CheckStage1Pid(p, holderPid))

	// Now no process is proven the pod's stage1: a bystander named by the
	// pid record is neither signalled by a stop nor killed by a forced one,
	// which kills the pod's cgroup instead.
	for _, rec := range []string{strconv.Itoa(bystander.Process.Pid), "-1", "0", "1", "x"} {
		if err := fsutil.WriteFile(pidFile, []byte(rec), 0o600, false); err != nil {
			t.Fatal(err)
		}
		wantBadPid(t, "pid record "+rec, SignalStage1(p, true))
	}
	if err := fsutil.WriteFile(pidFile, []byte(strconv.Itoa(bystander.Process.Pid)), 0o600, false); err != nil {
		t.Fatal(err)
	}
	if err := (CgroupControl{}).Stop(p, true); err != nil {
		t.Fatal(err)
	}
	if !stage1.Alive(bystander.Process.Pid) {
		t.Error("the bystander was killed")
	}
	for deadline := time.Now().Add(30 * time.Second); stage1.Alive(appPid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the app outlived a forced stop")
		}
	}
}

// newCgroupTestPod is a new pod, with its stage1 folder, for a test that
// makes its cgroups; closed when the test ends.
func newCgroupTestPod(t *testing.T) *lifecycle.Pod {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes cgroups and must run as root")
	}
	dataDir := t.TempDir()
	if err := lifecycle.Init(dataDir); err != nil {
		t.Fatal(err)
	}
	p, err := lifecycle.NewPod(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := os.MkdirAll(filepath.Join(p.Path(), lifecycle.DirStage1), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// A cgroup record that names host cgroups beside the pod's: only the
// pod's own folders are acted on, and gc removes them all.
func TestRecordedCgroups(t *testing.T) {
	p := newCgroupTestPod(t)
	g, err := NewPodCgroup(p, "name=systemd")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	rec, err := os.ReadFile(filepath.Join(p.Path(), lifecycle.FileCgroup))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(rec)); !slices.Equal(got, g.Dirs) {
		t.Fatalf("recorded %v, made %v", got, g.Dirs)
	}
	// The record names the host cgroups this test runs in (the pod's
	// parents), a hierarchy's root, a relative path and another pod's
	// folder beside its own.
	var hosts []string
	for _, d := range g.Dirs {
		hosts = append(hosts, filepath.Dir(d))
	}
	hostile := append(append(hosts, "/sys/fs/cgroup/unified", "relative/"+cgroup.PodDirName(p.UUID), filepath.Join(hosts[0], cgroup.PodDirName("other"))), g.Dirs...)
	if err := fsutil.WriteFile(filepath.Join(p.Path(), lifecycle.FileCgroup), []byte(strings.Join(hostile, "\n")), 0o600, false); err != nil {
		t.Fatal(err)
	}
	dirs, err := stage1.PodCgroupDirs(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dirs, g.Dirs) {
		t.Fatalf("checked folders %v, want the pod's own %v", dirs, g.Dirs)
	}
	if err := RemovePodCgroup(p); err != nil {
		t.Fatal(err)
	}
	for _, d := range g.Dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", d, err)
		}
	}
	for _, h := range hosts {
		if _, err := os.Stat(h); err != nil {
			t.Errorf("the host's cgroup %s: %v", h, err)
		}
	}
	// Removed, the folders are gone, not bad; a FIFO for a record does
	// not block.
	if dirs, err := stage1.PodCgroupDirs(p); err != nil || len(dirs) != 0 {
		t.Errorf("after removal: %v, %v", dirs, err)
	}
	fifo := filepath.Join(p.Path(), lifecycle.FileCgroup)
	os.Remove(fifo)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stage1.PodCgroupDirs(p); err == nil {
		t.Error("a FIFO was read as a record")
	}
}
