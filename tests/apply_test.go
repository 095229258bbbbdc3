package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// appliedPod is a pod as list --format=json shows it, with its source.
type appliedPod struct {
	UUID      string     `json:"uuid"`
	Name      string     `json:"name"`
	State     string     `json:"state"`
	Flavor    string     `json:"stage1"`
	StartedAt *time.Time `json:"started_at"`
	Source    *struct {
		File   string `json:"file"`
		Digest string `json:"digest"`
		Match  string `json:"match"`
	} `json:"source"`
	Apps []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"apps"`
}

// appliedPods lists the env's pods by name; it fails the test if two
// pods have one name.
func (e *env) appliedPods(filters ...string) map[string]appliedPod {
	e.t.Helper()
	args := []string{"list", "--format=json"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	var pods []appliedPod
	out := e.must(args...)
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		e.t.Fatalf("list printed %q: %v", out, err)
	}
	byName := map[string]appliedPod{}
	for _, p := range pods {
		if _, dup := byName[p.Name]; dup {
			e.t.Fatalf("two pods are named %q: %s", p.Name, out)
		}
		byName[p.Name] = p
	}
	return byName
}

// stopAllAtCleanup stops, at the end of the test and before newEnv's gc,
// every pod still running: pods that apply starts outlive it.
func (e *env) stopAllAtCleanup() {
	e.t.Cleanup(func() {
		var pods []appliedPod
		r := e.podctl("list", "--format=json", "--filter", "state=running")
		if json.Unmarshal([]byte(r.stdout), &pods) != nil {
			return
		}
		for _, p := range pods {
			e.podctl("stop", "--force", p.UUID)
		}
	})
}

// podFile is a pod file of podctl's form: one busybox app running cmd
// (a shell command line), on the native flavor, without a network.
func podFile(name, cmd string) string {
	return fmt.Sprintf(`name: %s
stage1: native
net: [none]
labels: {from: file}
stopGracePeriod: 3s
apps:
  - name: main
    image: example.com/busybox
    exec: /bin/sh
    args: ["-c", %q]
`, name, cmd)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// running checks that the pods of names run, made from files that match,
// and returns them.
func (e *env) running(names ...string) map[string]appliedPod {
	e.t.Helper()
	pods := e.appliedPods()
	for _, n := range names {
		p, ok := pods[n]
		if !ok || p.State != "running" || p.Source == nil || p.Source.Match != "matches" || p.StartedAt == nil {
			e.t.Fatalf("pod %s is not running from a matching file: %+v (all: %+v)", n, p, pods)
		}
	}
	return pods
}

func TestApplyFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	dir := t.TempDir()
	for _, n := range []string{"alpha", "beta", "gamma"} {
		writeFile(t, filepath.Join(dir, n+".pod"), podFile(n, "sleep 1000"))
	}
	// Not pod files: left alone.
	writeFile(t, filepath.Join(dir, "README"), "not a pod")
	writeFile(t, filepath.Join(dir, ".alpha.pod.swp"), "not a pod")

	// Dry run: says, does nothing.
	out := e.must("apply", "--dry-run", dir)
	for _, n := range []string{"alpha", "beta", "gamma"} {
		if !strings.Contains(out, "would start "+n+" from "+filepath.Join(dir, n+".pod")) {
			t.Fatalf("apply --dry-run printed %q", out)
		}
	}
	if len(e.podDirs()) != 0 {
		t.Fatalf("apply --dry-run made pods: %v", e.podDirs())
	}

	out = e.must("apply", dir)
	if strings.Count(out, "started ") != 3 {
		t.Fatalf("apply printed %q", out)
	}
	first := e.running("alpha", "beta", "gamma")
	if len(first) != 3 {
		t.Fatalf("want 3 pods, got %+v", first)
	}

	// Again: nothing changes, no pod restarts.
	out = e.must("apply", dir)
	if strings.Count(out, "unchanged ") != 3 {
		t.Fatalf("second apply printed %q", out)
	}
	again := e.running("alpha", "beta", "gamma")
	for n, p := range first {
		if again[n].UUID != p.UUID || !again[n].StartedAt.Equal(*p.StartedAt) {
			t.Fatalf("pod %s was restarted by an apply of unchanged files: %+v then %+v", n, p, again[n])
		}
	}

	// Edited: list says so before apply; apply replaces that pod only.
	writeFile(t, filepath.Join(dir, "beta.pod"), podFile("beta", "sleep 2000"))
	if m := e.appliedPods()["beta"].Source.Match; m != "changed" {
		t.Fatalf("list shows the edited file's pod as %q, want changed", m)
	}
	out = e.must("apply", dir)
	if !strings.Contains(out, "replaced beta") || strings.Count(out, "unchanged ") != 2 {
		t.Fatalf("apply of an edited file printed %q", out)
	}
	third := e.running("alpha", "beta", "gamma")
	if third["beta"].UUID == first["beta"].UUID {
		t.Fatal("the edited file's pod was not replaced")
	}
	for _, n := range []string{"alpha", "gamma"} {
		if third[n].UUID != first[n].UUID || !third[n].StartedAt.Equal(*first[n].StartedAt) {
			t.Fatalf("pod %s, whose file did not change, was restarted", n)
		}
	}
	if len(third) != 3 {
		t.Fatalf("the replaced pod is left behind: %+v", third)
	}
	if st := e.must("status", "beta"); !strings.Contains(st, "source="+filepath.Join(dir, "beta.pod")+"\n") || !strings.Contains(st, "source-match=matches\n") {
		t.Fatalf("status of an applied pod:\n%s", st)
	}

	// Deleted: its pod is stopped and removed; the others stay.
	if err := os.Remove(filepath.Join(dir, "gamma.pod")); err != nil {
		t.Fatal(err)
	}
	if m := e.appliedPods()["gamma"].Source.Match; m != "gone" {
		t.Fatalf("list shows the deleted file's pod as %q, want gone", m)
	}
	out = e.must("apply", dir)
	if !strings.Contains(out, "pruned gamma") {
		t.Fatalf("apply after a deletion printed %q", out)
	}
	last := e.running("alpha", "beta")
	if _, ok := last["gamma"]; ok || len(last) != 2 {
		t.Fatalf("the deleted file's pod is still there: %+v", last)
	}

	// list --filter source= selects by file and by folder.
	if got := e.appliedPods("source=" + dir); len(got) != 2 {
		t.Fatalf("--filter source=%s: %+v", dir, got)
	}
	if got := e.appliedPods("source=" + filepath.Join(dir, "alpha.pod")); len(got) != 1 || got["alpha"].UUID != first["alpha"].UUID {
		t.Fatalf("--filter source=alpha.pod: %+v", got)
	}
	if got := e.appliedPods("source=/elsewhere"); len(got) != 0 {
		t.Fatalf("--filter source=/elsewhere: %+v", got)
	}
	text := e.must("list")
	if !strings.Contains(text, "SOURCE") || !strings.Contains(text, filepath.Join(dir, "alpha.pod")) {
		t.Fatalf("list does not show the pods' sources:\n%s", text)
	}

	// The event log tells the story.
	evs := e.must("events", "--format=json")
	for _, want := range []string{`"type":"applied"`, `"type":"replaced"`, `"type":"pruned"`} {
		if !strings.Contains(evs, want) {
			t.Fatalf("no %s event in:\n%s", want, evs)
		}
	}
	if got := strings.TrimSpace(e.must("events", "--filter", "type=pruned", "--filter", "name=gamma", "--format=json")); strings.Count(got, "\n") != 0 || !strings.Contains(got, first["gamma"].UUID) {
		t.Fatalf("pruned events of gamma: %s", got)
	}
}

func TestApplyBadFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	// A pod named by hand, not from a file: apply must not take it.
	held := strings.TrimSpace(e.must("prepare", "--quiet", "--stage1=native", "--net=none", "--name", "taken", "example.com/busybox"))
	dir := t.TempDir()
	files := map[string]string{
		"good.pod":    podFile("good", "sleep 1000"),
		"syntax.pod":  "apps: [\n  {image: example.com/busybox\n",
		"unknown.pod": "stage1: native\napps:\n  - image: example.com/busybox\n    comand: [/bin/true]\n",
		"noimage.pod": podFile("noimage", "sleep 1") + "  - name: other\n    image: example.com/no-such-image\n",
		"clash.pod":   podFile("taken", "sleep 1000"),
		"dup1.pod":    podFile("twin", "sleep 1000"),
		"dup2.pod":    podFile("twin", "sleep 1000"),
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	// Pod files that someone but root may change: root runs what they say.
	writeFile(t, filepath.Join(dir, "open.pod"), podFile("open", "sleep 1000"))
	writeFile(t, filepath.Join(dir, "users.pod"), podFile("users", "sleep 1000"))
	if err := os.Chmod(filepath.Join(dir, "open.pod"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "users.pod"), 1000, 0); err != nil {
		t.Fatal(err)
	}
	// A FIFO named like a pod file: refused, without waiting for a writer.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.pod"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.podctl("apply", dir)
	checkNoPanic(t, "apply", r)
	if r.code != 254 {
		t.Fatalf("apply of bad files: want exit 254: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	want := map[string]*regexp.Regexp{
		"syntax.pod":  regexp.MustCompile(`^podctl: \S+/syntax\.pod:\d+: `),
		"unknown.pod": regexp.MustCompile(`^podctl: \S+/unknown\.pod:4: unknown field "comand"`),
		"noimage.pod": regexp.MustCompile(`^podctl: \S+/noimage\.pod: .*example\.com/no-such-image`),
		"clash.pod":   regexp.MustCompile(`^podctl: \S+/clash\.pod: pod name taken is taken by pod ` + held + `, which was not started from a pod file`),
		"dup1.pod":    regexp.MustCompile(`^podctl: \S+/dup1\.pod: pod name twin is also given by \S+/dup2\.pod`),
		"dup2.pod":    regexp.MustCompile(`^podctl: \S+/dup2\.pod: pod name twin is also given by \S+/dup1\.pod`),
		"open.pod":    regexp.MustCompile(`^podctl: \S+/open\.pod: writable by group or others \(mode 0666\)`),
		"users.pod":   regexp.MustCompile(`^podctl: \S+/users\.pod: owned by uid 1000, not root`),
		"fifo.pod":    regexp.MustCompile(`^podctl: \S+/fifo\.pod: not a regular file`),
	}
	if len(lines) != len(want) {
		t.Fatalf("want one line per bad file (%d), got:\n%s", len(want), r.stderr)
	}
	for file, re := range want {
		n := 0
		for _, l := range lines {
			if re.MatchString(l) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: want one line matching %s in:\n%s", file, re, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "started good") {
		t.Fatalf("the good file was not applied: %s", r)
	}
	// Nothing half started: the good pod and the pod named by hand, and
	// no other pod folder at all.
	pods := e.running("good")
	if len(pods) != 2 || pods["taken"].UUID != held || pods["taken"].State != "prepared" || pods["taken"].Source != nil {
		t.Fatalf("want the good pod and the untouched prepared one: %+v", pods)
	}
	if dirs := e.podDirs(); len(dirs) != 2 {
		t.Fatalf("bad files left pod folders: %v", dirs)
	}

	// A broken file never stops its running pod.
	writeFile(t, filepath.Join(dir, "good.pod"), podFile("good", "sleep 1000")+"oops: 1\n")
	if r := e.podctl("apply", dir); r.code != 254 || !strings.Contains(r.stderr, `good.pod:11: unknown field "oops"`) {
		t.Fatalf("apply of a broken file: %s", r)
	}
	if now := e.appliedPods()["good"]; now.UUID != pods["good"].UUID || now.State != "running" || now.Source.Match != "changed" {
		t.Fatalf("a broken file replaced or stopped its pod, or list does not show the file changed: %+v", now)
	}

	// Nor does an edit naming an image podctl does not have.
	writeFile(t, filepath.Join(dir, "good.pod"), strings.Replace(podFile("good", "sleep 1000"), "example.com/busybox", "example.com/nothing", 1))
	if r := e.podctl("apply", dir); r.code != 254 || !strings.Contains(r.stderr, `good.pod: no image "example.com/nothing" in the store`) || !strings.Contains(r.stderr, "pod "+pods["good"].UUID+" is left as it is") {
		t.Fatalf("apply of an edit naming an unknown image: %s", r)
	}
	if now := e.appliedPods()["good"]; now.UUID != pods["good"].UUID || now.State != "running" {
		t.Fatalf("an edit naming an unknown image stopped its pod: %+v", now)
	}

	e.refused("does not exist", "apply", filepath.Join(dir, "nothing-here"))
	e.refused("apply takes FILE|FOLDER", "apply")
	e.refused("unknown --format", "apply", "--format=yaml", dir)
}

func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	dir := t.TempDir()
	names := []string{"one", "two", "three"}
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n+".pod"), podFile(n, "sleep 1000"))
	}
	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.podctl("apply", dir)
		}()
	}
	wg.Wait()
	started := 0
	for _, r := range results {
		if r.code != 0 {
			t.Fatalf("one of three applies at once failed: %s", r)
		}
		started += strings.Count(r.stdout, "started ")
	}
	if started != 3 {
		t.Fatalf("three applies at once started %d pods, want 3 (one per file): %v", started, results)
	}
	pods := e.running(names...)
	if len(pods) != 3 || len(e.podDirs()) != 3 {
		t.Fatalf("want exactly one pod per file: %+v %v", pods, e.podDirs())
	}

	// Two applies of an edited file at once: one replaces, one finds it
	// done; still one pod.
	writeFile(t, filepath.Join(dir, "two.pod"), podFile("two", "sleep 3000"))
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.podctl("apply", dir)
		}()
	}
	wg.Wait()
	if results[0].code != 0 || results[1].code != 0 {
		t.Fatalf("applies at once: %v", results[:2])
	}
	if n := strings.Count(results[0].stdout+results[1].stdout, "replaced two"); n != 1 {
		t.Fatalf("the edited pod was replaced %d times: %v", n, results[:2])
	}
	after := e.running(names...)
	if len(after) != 3 || after["two"].UUID == pods["two"].UUID || len(e.podDirs()) != 3 {
		t.Fatalf("after concurrent applies of an edit: %+v %v", after, e.podDirs())
	}

	// --format=json: one array of every action, by file.
	var actions []struct {
		Action, Name, File, UUID string
	}
	out := e.must("apply", "--format=json", dir)
	if err := json.Unmarshal([]byte(out), &actions); err != nil || len(actions) != 3 {
		t.Fatalf("apply --format=json printed %q: %v", out, err)
	}
	for i, a := range actions {
		n := []string{"one", "three", "two"}[i]
		if a.Action != "unchanged" || a.Name != n || a.File != filepath.Join(dir, n+".pod") || a.UUID != after[n].UUID {
			t.Fatalf("action %d: %+v", i, a)
		}
	}
}

func TestApplyKubernetesPod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	dir := t.TempDir()
	file := filepath.Join(dir, "kube.pod")
	writeFile(t, file, `apiVersion: v1
kind: Pod
metadata:
  name: web-and-sidecar
  labels: {app: web}
  annotations:
    podctl.io/stage1: native
    podctl.io/net: none
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 5
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: web
    image: example.com/busybox
    command: [/bin/sh, -c]
    args: ["echo $GREETING > /shared/hello; exec sleep 1000"]
    env: [{name: GREETING, value: from-web}]
    volumeMounts: [{name: shared, mountPath: /shared}]
    resources: {limits: {memory: 64Mi}}
  - name: sidecar
    image: example.com/busybox
    command: [/bin/sleep, "1000"]
    securityContext: {runAsUser: 65534}
`)
	e.must("apply", file)
	p := e.running("web-and-sidecar")["web-and-sidecar"]
	var apps []string
	for _, a := range p.Apps {
		apps = append(apps, a.Name+"="+a.State)
	}
	sort.Strings(apps)
	if strings.Join(apps, " ") != "sidecar=running web=running" {
		t.Fatalf("the Pod's two containers run as %v", apps)
	}
	// enterUntilOutput puts its first argument after enter: the app.
	if r := e.enterUntilOutput("--app=web", p.UUID, "/bin/cat", "/shared/hello"); r.code != 0 || strings.TrimSpace(r.stdout) != "from-web" {
		t.Fatalf("the web container's env and volume: %s", r)
	}
	if r := e.enterUntilOutput("--app=sidecar", p.UUID, "/bin/id", "-u"); strings.TrimSpace(r.stdout) != "65534" {
		t.Fatalf("runAsUser: %s", r)
	}
	// Entered once already: a failure here is cat's, not enter's.
	if r := e.podctl("enter", "--app=sidecar", p.UUID, "/bin/cat", "/shared/hello"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "No such file or directory") {
		t.Fatalf("the sidecar, which does not mount the volume, reads it: %s", r)
	}
	// The single file's apply prunes nothing else, and unchanged keeps it.
	if out := e.must("apply", file); !strings.Contains(out, "unchanged web-and-sidecar") {
		t.Fatalf("apply again: %s", out)
	}
}

func TestApplyDefaultFlavor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	dir := t.TempDir()
	// No stage1: the default flavor.
	writeFile(t, filepath.Join(dir, "plain.pod"), "net: [none]\nstopGracePeriod: 5s\napps:\n  - image: example.com/busybox\n    exec: /bin/sleep\n    args: [\"1000\"]\n")
	e.must("apply", dir)
	p := e.running("plain")["plain"]
	version := e.must("version")
	if p.Flavor == "" || !strings.Contains(version, "(default "+p.Flavor+")") {
		t.Fatalf("the pod runs on %q; podctl version says %s", p.Flavor, version)
	}
	if err := os.Remove(filepath.Join(dir, "plain.pod")); err != nil {
		t.Fatal(err)
	}
	if out := e.must("apply", dir); !strings.Contains(out, "pruned plain") {
		t.Fatalf("apply after removing the file: %s", out)
	}
	if pods := e.appliedPods(); len(pods) != 0 {
		t.Fatalf("left: %+v", pods)
	}
}

// TestApplyGenerator runs the systemd generator on a folder of pod files,
// checks its units with systemd-analyze verify, and runs what a unit runs.
func TestApplyGenerator(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	pods := t.TempDir()
	writeFile(t, filepath.Join(pods, "web.pod"), podFile("web", "sleep 1000"))
	writeFile(t, filepath.Join(pods, "database.pod"), podFile("database", "sleep 1000"))
	writeFile(t, filepath.Join(pods, "bad.pod"), "apps: [{image: x, nope: 1}]\n")
	out := t.TempDir()
	early, late := t.TempDir(), t.TempDir()
	// The generator as systemd runs it: dist/systemd/podctl-generator,
	// with podctl put where the script says it is.
	script, err := os.ReadFile(filepath.Join(distDir, "systemd", "podctl-generator"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(script), `"$@"`, `--pods `+pods+` --podctl `+podctlBin+` "$@"`, 1)
	text = strings.ReplaceAll(text, "/usr/bin/podctl", podctlBin)
	gen := filepath.Join(t.TempDir(), "podctl-generator")
	writeFile(t, gen, text)
	cmd := exec.Command("/bin/sh", gen, out, early, late)
	cmd.Env = append(os.Environ(), "PODCTL_DIR="+e.dir)
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || strings.Count(string(b), "bad.pod:1: unknown field \"nope\"") != 1 {
		t.Fatalf("the generator must name the bad file and exit non-zero: %v\n%s", err, b)
	}
	var units []string
	for _, n := range []string{"web", "database"} {
		u := filepath.Join(out, "podctl-"+n+".service")
		units = append(units, u)
		if l, err := os.Readlink(filepath.Join(out, "multi-user.target.wants", "podctl-"+n+".service")); err != nil || l != "../podctl-"+n+".service" {
			t.Fatalf("podctl-%s.service is not wanted by multi-user.target: %q %v", n, l, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(out, "podctl-bad*")); len(left) != 0 {
		t.Fatalf("a unit for the bad file: %v", left)
	}
	vb, err := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(vb))) != 0 {
		t.Fatalf("systemd-analyze verify of the generated units (it runs here without systemd as PID 1): %v\n%s", err, vb)
	}
	// What the unit runs: ExecStart applies the file, ExecStop stops the
	// pod, ExecStopPost removes it.
	unit, err := os.ReadFile(units[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "Exec") {
			lines[k] = strings.TrimPrefix(v, "-")
		}
	}
	run := func(key string) {
		words := strings.Fields(lines[key])
		if len(words) < 2 || words[0] != podctlBin {
			t.Fatalf("%s=%s does not run podctl", key, lines[key])
		}
		if r := e.podctl(words[1:]...); r.code != 0 {
			t.Fatalf("%s: %s", key, r)
		}
	}
	run("ExecStart")
	p := e.running("web")
	if len(p) != 1 {
		t.Fatalf("the web unit's start runs %+v", p)
	}
	run("ExecStop")
	if st := e.appliedPods()["web"].State; st != "exited" {
		t.Fatalf("after the unit's stop, the pod is %s", st)
	}
	run("ExecStopPost")
	if len(e.appliedPods()) != 0 {
		t.Fatal("the unit's stop left its pod")
	}
}

// TestApplyDistTimerAndCron runs podctl-apply.service's command and the
// cron line on a folder, and verifies the service and its timer.
func TestApplyDistTimerAndCron(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	pods := t.TempDir()
	writeFile(t, filepath.Join(pods, "svc.pod"), podFile("svc", "sleep 1000"))
	lines := unitExecLines(t, filepath.Join(distDir, "systemd", "podctl-apply.service"))
	if len(lines) != 1 || lines[0] != "/usr/bin/podctl apply /etc/podctl/pods" {
		t.Fatalf("podctl-apply.service runs %q", lines)
	}
	if r := e.runDistCommand(strings.Replace(lines[0], "/etc/podctl/pods", pods, 1)); r.code != 0 {
		t.Fatal(r)
	}
	first := e.running("svc")["svc"]
	b, err := os.ReadFile(filepath.Join(distDir, "cron.d", "podctl-apply"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\* \* \* \* \* root (podctl apply /etc/podctl/pods) >/dev/null$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no cron line applying /etc/podctl/pods every minute:\n%s", b)
	}
	if r := e.runDistCommand(strings.Replace(m[1], "/etc/podctl/pods", pods, 1)); r.code != 0 || !strings.Contains(r.stdout, "unchanged svc") {
		t.Fatal(r)
	}
	if e.running("svc")["svc"].UUID != first.UUID {
		t.Fatal("the cron line replaced an unchanged pod")
	}
	dir := t.TempDir()
	var units []string
	for _, name := range []string{"podctl-apply.service", "podctl-apply.timer"} {
		b, err := os.ReadFile(filepath.Join(distDir, "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		writeFile(t, path, strings.ReplaceAll(string(b), "/usr/bin/podctl", podctlBin))
		units = append(units, path)
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestApplyRestartAndReady: a pod file's restart policy and readiness are
// its pod's; apply returns once a notify pod has said it is ready.
func TestApplyRestartAndReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	e.fetchBusybox()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "restarts.pod"), podFile("restarts", "sleep 0.2")+"restart: always\nrestartBackoff: 100ms\n")
	writeFile(t, filepath.Join(dir, "notifies.pod"), podFile("notifies", "sleep 1; /bin/notify READY=1; exec sleep 1000")+"ready: notify\n")
	// A job: it runs once, and an apply after its end leaves it ended.
	writeFile(t, filepath.Join(dir, "job.pod"), podFile("job", "exit 0")+"restart: \"no\"\n")
	e.must("apply", dir)
	// Ready when apply returns: the app said so after a second.
	if st := e.must("status", "notifies"); !regexp.MustCompile(`(?m)^history=\S+ ready$`).MatchString(st) {
		t.Fatalf("apply returned before the notify pod was ready:\n%s", st)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := e.status("restarts")
		if st.State == "running" && len(st.Apps) == 1 && st.Apps[0].RestartCount >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app of restart: always was not restarted twice: %+v", st)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); e.appliedPods()["job"].State != "exited"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job did not end: %+v", e.appliedPods()["job"])
		}
	}
	job := e.appliedPods()["job"]
	// Restarting apps do not make the pod differ from its file, and an
	// ended job is left as it ended.
	if out := e.must("apply", dir); strings.Count(out, "unchanged ") != 3 || !strings.Contains(out, "unchanged job (pod "+job.UUID[:8]+"): the pod has ended, and its restart policy is no") {
		t.Fatalf("apply again: %s", out)
	}
	if e.appliedPods()["job"].UUID != job.UUID {
		t.Fatal("an ended job was started again")
	}
}

// TestApplyImageFileAndAppcManifest: an image file beside the pod file,
// fetched by apply itself, and a pod file that is an appc pod manifest.
func TestApplyImageFileAndAppcManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopAllAtCleanup()
	dir := t.TempDir()
	b, err := os.ReadFile(busyboxACI)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "busybox.aci"), string(b))
	// Relative to the pod file's folder, wherever apply runs from.
	writeFile(t, filepath.Join(dir, "local.pod"), "stage1: native\nnet: [none]\ninsecureOptions: [image]\napps:\n  - image: ./busybox.aci\n    exec: /bin/sleep\n    args: [\"1000\"]\n")
	e.must("apply", filepath.Join(dir, "local.pod"))
	e.running("local")
	manifest := filepath.Join(t.TempDir(), "from-appc.pod")
	writeFile(t, manifest, `{"acKind": "PodManifest", "acVersion": "0.8.11",
 "annotations": [{"name": "podctl.io/stage1", "value": "native"}, {"name": "podctl.io/net", "value": "none"}],
 "userLabels": {"kind": "appc"},
 "apps": [{"name": "sleeper", "image": {"name": "example.com/busybox", "labels": [{"name": "version", "value": "1.0"}]},
   "app": {"exec": ["/bin/sleep", "1000"], "user": "0", "group": "0",
           "isolators": [{"name": "resource/memory", "value": {"limit": "64M"}}]}}]}`)
	e.must("apply", manifest)
	p := e.running("from-appc")["from-appc"]
	if len(p.Apps) != 1 || p.Apps[0].Name != "sleeper" {
		t.Fatalf("the appc pod manifest runs %+v", p)
	}
	if got := e.appliedPods("label=kind=appc"); len(got) != 1 {
		t.Fatalf("the manifest's userLabels: %+v", got)
	}
}
