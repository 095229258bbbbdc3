package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A pod rewrites the records `stop`, `rm` and `gc` act on as root: its
// stage1 pid and its cgroup folders. podctl must refuse them in one line
// and leave the host alone, and still stop and collect the real pod.

// recordCase is one rewritten record and the command that reads it.
type recordCase struct {
	record string   // "pid", "cgroup" (a host folder) or "cgroup-root"
	verb   []string // the command, before the pod's UUID
	// exited: the pod's stage1 is killed before the rewrite, as rm and gc
	// act on pods that have ended.
	exited bool
}

func (c recordCase) name() string {
	n := c.record + "/" + c.verb[0]
	if len(c.verb) > 1 && c.verb[1] == "--force" {
		n += "-force"
	}
	return n
}

var recordCases = func() []recordCase {
	stop, force := []string{"stop"}, []string{"stop", "--force"}
	rm, gc := []string{"rm"}, []string{"gc", "--grace-period=0s"}
	var out []recordCase
	for _, v := range [][]string{stop, force} {
		out = append(out, recordCase{record: "pid", verb: v})
	}
	// The host folder cases come before the cgroup root ones: the root is
	// tried only once every folder case was refused, since an unchecked
	// record naming the root kills every process on the host.
	for _, rec := range []string{"cgroup", "cgroup-root"} {
		out = append(out,
			recordCase{record: rec, verb: stop},
			recordCase{record: rec, verb: force},
			recordCase{record: rec, verb: rm, exited: true},
			recordCase{record: rec, verb: gc, exited: true})
	}
	return out
}()

func TestHostileRecords(t *testing.T) { forEachFlavor(t, testHostileRecords) }

func testHostileRecords(t *testing.T, e *env) {
	e.fetchBusybox()
	foldersSafe := true
	for _, c := range recordCases {
		t.Run(c.name(), func(t *testing.T) {
			if c.record == "cgroup-root" && !foldersSafe {
				t.Fatalf("not tried: a record naming a host cgroup folder harmed the host's folder or process (or its case did not get that far), so one naming the cgroup root could kill every process on the host")
			}
			harmless := false
			testRecordCase(t, e, c, &harmless)
			if c.record == "cgroup" && !harmless {
				foldersSafe = false
			}
		})
	}
}

// testRecordCase runs one case; at its end it sets *harmless if the
// host's process and folder survived the command and the gc after it.
func testRecordCase(t *testing.T, e *env, c recordCase, harmless *bool) {
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	ended := false
	defer func() {
		if !ended {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
	}()
	real := e.podCgroups(uuid)
	// A leak this test finds is reported, then removed: the host keeps
	// nothing of it.
	t.Cleanup(func() { removeCgroups(t, real) })
	podDir := filepath.Join(e.dir, "pods", "run", uuid)
	if c.exited {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		ended = true
		waitCgroupEmpty(t, real)
	}

	// The host's processes and folder the rewritten record points at.
	var victim *hostProc
	folder := ""
	switch c.record {
	case "pid":
		victim = startHostSleeper(t)
		writeRecord(t, filepath.Join(podDir, "pid"), strconv.Itoa(victim.cmd.Process.Pid))
	case "cgroup":
		folder, victim = hostCgroup(t, filepath.Dir(real[0]))
		writeRecord(t, filepath.Join(podDir, "stage1", "cgroup"), folder+"\n")
	case "cgroup-root":
		// The victim stands for every process of the host: the root holds
		// them all, and a kill of the root reaches it.
		folder, victim = hostCgroup(t, filepath.Dir(real[0]))
		writeRecord(t, filepath.Join(podDir, "stage1", "cgroup"), cgroupRoot(t, real[0])+"\n")
	}

	args := c.verb
	if c.verb[0] != "gc" {
		args = append(append([]string{}, c.verb...), uuid)
	}
	r := e.podctl(args...)
	what := "podctl " + strings.Join(c.verb, " ") + " after the pod rewrote its " + c.record + " record"
	hurt := false
	if !victim.survives() {
		hurt = true
		t.Errorf("%s killed the host process %d it pointed at (defence wanted: a pid checked against the pod's cgroup)\n%s", what, victim.cmd.Process.Pid, r)
	}
	if folder != "" {
		if _, err := os.Stat(folder); err != nil {
			hurt = true
			t.Errorf("%s removed the host cgroup %s (defence wanted: a cgroup checked against podctl's parent and the pod's name): %v\n%s", what, folder, err, r)
		}
	}
	checkRefusal(t, what, r)

	// The real pod still ends and is collected: nothing of it is left.
	if !ended {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		ended = true
	}
	waitCgroupEmpty(t, real)
	if r := e.podctl("gc", "--grace-period=0s"); r.code != 0 {
		t.Errorf("gc after %s: %s", what, r)
	}
	if left := e.podDirs(); len(left) != 0 {
		t.Errorf("pods left after %s and gc: %v", what, left)
	}
	checkCgroupsGone(t, real)
	// What the command itself did is reported above; this is the gc's.
	if !hurt && !victim.survives() {
		hurt = true
		t.Errorf("gc after %s killed the host process %d", what, victim.cmd.Process.Pid)
	}
	if folder != "" && !hurt {
		if _, err := os.Stat(folder); err != nil {
			hurt = true
			t.Errorf("gc after %s removed the host cgroup %s: %v", what, folder, err)
		}
	}
	*harmless = !hurt
}

// refusal is how podctl says it refused a record.
var refusal = regexp.MustCompile(`(?i)refus|reject|not (the|this) pod|not named|untrusted|ignor|left alone|not signall?ed`)

// checkRefusal wants one line of r's standard error saying that a record
// was refused, and no crash.
func checkRefusal(t *testing.T, what string, r result) {
	t.Helper()
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Errorf("%s crashed: %s", what, r)
		return
	}
	for _, line := range strings.Split(r.stderr, "\n") {
		if refusal.MatchString(line) {
			t.Logf("%s: %s", what, line)
			return
		}
	}
	t.Errorf("%s did not say in one line that the record was refused: %s", what, r)
}

// writeRecord overwrites a pod file as the pod's own root could.
func writeRecord(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("rewriting %s: %v", path, err)
	}
}

// hostProc is a host process a test keeps an eye on.
type hostProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startHostSleeper starts a host `sleep` that the test kills at its end.
func startHostSleeper(t *testing.T) *hostProc {
	t.Helper()
	cmd := exec.Command(busyboxPath, "sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &hostProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// survives reports whether the process is still alive 2 s from now: a
// signal podctl sent has long been delivered by then.
func (p *hostProc) survives() bool {
	select {
	case <-p.done:
		return false
	case <-time.After(2 * time.Second):
		return true
	}
}

// hostCgroup makes a cgroup folder in parent, named as another pod's
// would be, with a host sleeper in it; the test removes both at its end.
func hostCgroup(t *testing.T, parent string) (string, *hostProc) {
	t.Helper()
	u := randomHex(t) + randomHex(t)
	dir := filepath.Join(parent, "podctl-"+u[:8]+"-"+u[8:12]+"-4"+u[13:16]+"-8"+u[17:20]+"-"+u[20:32])
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after the sleeper's cleanup.
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := os.Remove(dir)
			if err == nil || os.IsNotExist(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("removing the test's cgroup %s: %v", dir, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	p := startHostSleeper(t)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(p.cmd.Process.Pid)), 0); err != nil {
		t.Fatalf("moving the sleeper into %s: %v", dir, err)
	}
	return dir, p
}

// cgroupRoot is the root of the cgroup hierarchy that holds dir.
func cgroupRoot(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	root := ""
	for _, line := range strings.Split(string(b), "\n") {
		_, after, ok := strings.Cut(line, " - ")
		f := strings.Fields(line)
		if !ok || len(f) < 5 || len(strings.Fields(after)) == 0 {
			continue
		}
		typ, mp := strings.Fields(after)[0], f[4]
		if (typ == "cgroup" || typ == "cgroup2") && strings.HasPrefix(dir, mp+"/") && len(mp) > len(root) {
			root = mp
		}
	}
	if root == "" {
		t.Fatalf("no cgroup mount holds %s", dir)
	}
	return root
}

// removeCgroups removes what is left of the cgroup folders, deepest first;
// they hold no process by then.
func removeCgroups(t *testing.T, dirs []string) {
	for _, top := range dirs {
		var all []string
		filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, path)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if err := os.Remove(all[i]); err != nil && !os.IsNotExist(err) {
				t.Errorf("removing the leaked cgroup %s: %v", all[i], err)
			}
		}
	}
}
