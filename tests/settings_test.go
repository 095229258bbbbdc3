package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// lowNofile is the soft RLIMIT_NOFILE the settings tests start podctl
// with: below its hard limit, as on most hosts, so that the Go runtime
// raises its own and must hand the original to the apps.
const lowNofile = 512

// runLowNofile runs `podctl ARGS...` from a shell that first lowers its
// soft RLIMIT_NOFILE to lowNofile.
func (e *env) runLowNofile(args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	cmd.Path = "/bin/sh"
	cmd.Args = append([]string{"sh", "-c", `ulimit -Sn ` + strconv.Itoa(lowNofile) + ` && exec "$0" "$@"`}, cmd.Args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("running podctl %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}

// hardNofile is this process's hard RLIMIT_NOFILE, which podctl and the
// apps inherit.
func hardNofile(t *testing.T) uint64 {
	t.Helper()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Max <= lowNofile+1 {
		t.Fatalf("the hard RLIMIT_NOFILE, %d, leaves no room below it", l.Max)
	}
	return l.Max
}

// showSettings prints, on one line, the app's name, its soft and hard
// RLIMIT_NOFILE, its RLIMIT_CORE and its oom_score_adj.
const showSettings = `echo $AC_APP_NAME $(ulimit -n) $(ulimit -Hn) $(ulimit -c) $(cat /proc/self/oom_score_adj)`

// Each app gets its own --rlimit and --oom-score-adj, as root or not, and
// an app without them gets what it would get without podctl knowing them.
func TestSettings(t *testing.T) { forEachFlavor(t, testSettings) }

func testSettings(t *testing.T, e *env) {
	hardNofile(t)
	e.fetchBusybox()
	// What an app gets with none of the settings.
	r := e.runLowNofile("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", showSettings)
	if r.code != 0 {
		t.Fatalf("app without settings: %s", r)
	}
	plain := strings.Fields(r.stdout)
	if len(plain) != 5 {
		t.Fatalf("app without settings printed %q", r.stdout)
	}
	if e.flavor == "fly" {
		// fly's apps inherit podctl's own limits (systemd gives its
		// services its own).
		if want := strconv.Itoa(lowNofile); plain[1] != want {
			t.Errorf("app without settings has soft RLIMIT_NOFILE %s, want podctl's %s", plain[1], want)
		}
	}

	// --rlimit before the first image is every app's default; an app's own
	// replaces it for the same resource.
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	r = e.runLowNofile("run", "--uuid-file-save", uuidFile, "--rlimit=core=0",
		"example.com/busybox", "--name", "a", "--rlimit=nofile=1000:2000", "--rlimit=RLIMIT_CORE=unlimited", "--oom-score-adj=500",
		"--exec", "/bin/sh", "--", "-c", showSettings, "---",
		"example.com/busybox", "--name", "b", "--user", "nobody", "--rlimit", "NOFILE=900", "--oom-score-adj", "300",
		"--exec", "/bin/sh", "--", "-c", showSettings, "---",
		"example.com/busybox", "--name", "c", "--exec", "/bin/sh", "--", "-c", showSettings)
	if r.code != 0 || strings.TrimSpace(r.stderr) != "" {
		t.Fatalf("pod with settings: %s", r)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			got[f[0]] = line
		}
	}
	for app, want := range map[string]string{
		"a": "a 1000 2000 unlimited 500",
		"b": "b 900 900 0 300",
		// Only the default, which is not one of the settings shown but
		// core, and nothing of its siblings.
		"c": strings.Join([]string{"c", plain[1], plain[2], "0", plain[4]}, " "),
	} {
		if got[app] != want {
			t.Errorf("app %s printed %q, want %q", app, got[app], want)
		}
	}
	// The pod manifest keeps them as annotations of the apps.
	var m struct {
		Apps []struct {
			Name        string `json:"name"`
			Annotations []struct{ Name, Value string }
		} `json:"apps"`
	}
	uuid, err := os.ReadFile(uuidFile)
	if err != nil {
		t.Fatal(err)
	}
	out := e.must("cat-manifest", string(uuid))
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("cat-manifest printed %q: %v", out, err)
	}
	ann := map[string]string{}
	for _, a := range m.Apps {
		for _, an := range a.Annotations {
			ann[a.Name+" "+an.Name] = an.Value
		}
	}
	for k, want := range map[string]string{
		"a podctl.io/rlimits":       "core=unlimited:unlimited,nofile=1000:2000",
		"a podctl.io/oom-score-adj": "500",
		"b podctl.io/rlimits":       "core=0:0,nofile=900:900",
		"b podctl.io/oom-score-adj": "300",
		"c podctl.io/rlimits":       "core=0:0",
	} {
		if ann[k] != want {
			t.Errorf("annotation %s is %q, want %q", k, ann[k], want)
		}
	}
	if len(ann) != 5 {
		t.Errorf("annotations %v, want 5", ann)
	}
}

// A setting the kernel refuses is said once, and the app runs without it.
func TestSettingsRefused(t *testing.T) { forEachFlavor(t, testSettingsRefused) }

func testSettingsRefused(t *testing.T, e *env) {
	hardNofile(t)
	e.fetchBusybox()
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	show := `ulimit -n; ulimit -Hn`
	r := e.runLowNofile("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", show)
	if r.code != 0 {
		t.Fatalf("app without settings: %s", r)
	}
	plain := r.stdout
	// No process may have a hard RLIMIT_NOFILE above fs.nr_open, root
	// included: EPERM.
	tooMany := strconv.FormatUint(nrOpen+1, 10)
	r = e.runLowNofile("run", "example.com/busybox", "--rlimit=nofile=1024:"+tooMany, "--rlimit=core=0:0",
		"--exec", "/bin/sh", "--", "-c", show+"; ulimit -c")
	if r.code != 0 {
		t.Fatalf("app with a refused limit: %s", r)
	}
	msg := strings.TrimSpace(r.stderr)
	want := "podctl: app busybox: cannot set RLIMIT_NOFILE to 1024:" + tooMany + " (operation not permitted); going on with "
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, want) {
		t.Errorf("want one line starting %q, got %q", want, msg)
	}
	// The refused limit is the one the app would have had; the other holds.
	if r.stdout != plain+"0\n" {
		t.Errorf("app with a refused limit printed %q, want %q", r.stdout, plain+"0\n")
	}
}

// Bad values are refused before anything is made.
func TestSettingsBadValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ flag, want string }{
		{"--rlimit=bogus=1", `--rlimit "bogus=1": unknown limit "bogus": choose one of as, core,`},
		{"--rlimit=nofile=2000:1000", `--rlimit "nofile=2000:1000": soft limit 2000 is above hard limit 1000`},
		{"--rlimit=nofile=lots", `--rlimit "nofile=lots": limit "lots" is not a number or unlimited`},
		{"--rlimit=nofile", `--rlimit "nofile": write NAME=SOFT[:HARD]`},
		{"--oom-score-adj=5000", "--oom-score-adj 5000 is not between -1000 and 1000"},
		{"--oom-score-adj=-1001", "--oom-score-adj -1001 is not between -1000 and 1000"},
		{"--oom-score-adj=high", `invalid argument "high" for "--oom-score-adj" flag`},
	} {
		// After the image, and before it as every app's default.
		checkRefused(t, c.flag, e.podctl("run", "--insecure-options=image", busyboxACI, c.flag, "--exec", "/bin/true"), c.want)
		checkRefused(t, c.flag+" as a default", e.podctl("prepare", "--insecure-options=image", c.flag, busyboxACI), c.want)
	}
	if pods := e.list(); len(pods) != 0 {
		t.Errorf("refused commands left pods: %+v", pods)
	}
	if dirs := e.podDirs(); len(dirs) != 0 {
		t.Errorf("refused commands left pod folders: %v", dirs)
	}
	// Refused before the image file was even imported.
	if trees, _ := filepath.Glob(filepath.Join(e.dir, "images", "trees", "*")); len(trees) != 0 {
		t.Errorf("refused commands imported the image: %v", trees)
	}
}
