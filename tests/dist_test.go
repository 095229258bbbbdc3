package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// distDir is the repository's dist/ folder.
const distDir = "../dist"

// unitExecLines returns the ExecStart= commands of a unit file.
func unitExecLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if cmd, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			out = append(out, cmd)
		}
	}
	return out
}

// runDistCommand runs a podctl command line from a dist file with the
// binary under test and the env's data directory.
func (e *env) runDistCommand(line string) result {
	e.t.Helper()
	words := strings.Fields(line)
	if len(words) < 2 || (words[0] != "/usr/bin/podctl" && words[0] != "podctl") {
		e.t.Fatalf("%q does not run podctl", line)
	}
	return e.podctl(words[1:]...)
}

func TestDistGCTimerAndCron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	if r := e.podctl("run", "--stage1=fly", "example.com/busybox", "--exec", "/bin/true"); r.code != 0 {
		t.Fatal(r)
	}
	lines := unitExecLines(t, filepath.Join(distDir, "systemd", "podctl-gc.service"))
	if len(lines) == 0 {
		t.Fatal("podctl-gc.service runs nothing")
	}
	for _, l := range lines {
		if r := e.runDistCommand(l); r.code != 0 {
			t.Errorf("%s: %s", l, r)
		}
	}
	b, err := os.ReadFile(filepath.Join(distDir, "cron.d", "podctl"))
	if err != nil {
		t.Fatal(err)
	}
	cronLine := regexp.MustCompile(`(?m)^[*/0-9, ]+ [*/0-9, ]+ [*/0-9, ]+ [*/0-9, ]+ [*/0-9, ]+ root (podctl [^>]*)`)
	m := cronLine.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no cron line running podctl as root in:\n%s", b)
	}
	if r := e.runDistCommand(m[1]); r.code != 0 {
		t.Errorf("cron's %s: %s", m[1], r)
	}
	if len(e.list()) != 1 {
		t.Fatal("the gc commands must mark, not yet remove, a pod exited just now")
	}
}

func TestDistUnitsVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var units []string
	for _, name := range []string{"podctl-gc.service", "podctl-gc.timer", "podctl-example.service"} {
		b, err := os.ReadFile(filepath.Join(distDir, "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		// systemd-analyze checks that the commands exist: point them at
		// the binary under test.
		text := strings.ReplaceAll(string(b), "/usr/bin/podctl", podctlBin)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, path)
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestDistTmpfiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	conf, _ := filepath.Abs(filepath.Join(distDir, "tmpfiles.d", "podctl.conf"))
	out, err := exec.Command("systemd-tmpfiles", "--create", "--root="+root, conf).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-tmpfiles: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(root, "var", "lib", "podctl"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v %v", fi, err)
	}
}

func TestDistBashCompletionIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := exec.Command(podctlBin, "completion", "bash").Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(distDir, "bash-completion", "podctl"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("dist/bash-completion/podctl is stale: regenerate it with bin/podctl completion bash > dist/bash-completion/podctl")
	}
}

func TestDistInitScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	script := filepath.Join(distDir, "init.d", "podctl-example")
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	run := func(verb string) (string, error) {
		cmd := exec.Command("/bin/sh", script, verb)
		cmd.Env = append(os.Environ(), "PODCTL="+podctlBin, "PODCTL_DIR="+e.dir,
			"PODCTL_UUID_FILE="+uuidFile, "PODCTL_LOG="+filepath.Join(t.TempDir(), "log"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("start"); err != nil {
		t.Fatalf("start: %v %s", err, out)
	}
	var out string
	var err error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if out, err = run("status"); err == nil && strings.Contains(out, "state=running") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "state=running") {
		t.Fatalf("status after start: %v %s", err, out)
	}
	if out, err := run("stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	out, err = run("status")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(out, "state=exited") {
		t.Fatalf("status after stop: want LSB 3 and state=exited, got %v %s", err, out)
	}
}
