package tests

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// namedPod is what the name tests read of list and status JSON.
type namedPod struct {
	UUID        string            `json:"uuid"`
	Name        string            `json:"name"`
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func (e *env) namedStatus(id string) namedPod {
	e.t.Helper()
	var p namedPod
	out := e.must("status", "--format=json", id)
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		e.t.Fatalf("status --format=json printed %q: %v", out, err)
	}
	return p
}

// listed returns the names (or "-" and the UUID for a pod without one) of
// the pods list --filter shows, sorted.
func (e *env) listed(filters ...string) []string {
	e.t.Helper()
	args := []string{"list", "--format=json"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	var pods []namedPod
	out := e.must(args...)
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		e.t.Fatalf("list printed %q: %v", out, err)
	}
	names := []string{}
	for _, p := range pods {
		if p.Name == "" {
			names = append(names, "-"+p.UUID)
		} else {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return names
}

// startPrepared prepares a pod with args, runs it in the background with
// run-prepared REF (its UUID if ref is "") and waits for it to be ready.
// It returns the run-prepared command and the pod's UUID.
func (e *env) startPrepared(ref string, args ...string) (*exec.Cmd, string) {
	e.t.Helper()
	uuid := lastLine(e.must(append([]string{"prepare", "--quiet"}, args...)...))
	if ref == "" {
		ref = uuid
	}
	cmd := e.command("run-prepared", ref)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			e.podctl("stop", "--force", uuid)
			cmd.Wait()
		}
	})
	if r := e.podctl("status", "--wait-ready=30s", uuid); r.code != 0 {
		e.t.Fatalf("pod %s never became ready: %s\nlogs: %s", uuid, r, e.podctl("logs", uuid))
	}
	return cmd, uuid
}

// TestPodNames: a name works wherever a UUID does, is unique among pods not
// yet removed, and is free again once its pod is removed; every app sees
// its pod's UUID and name.
func TestPodNames(t *testing.T) { forEachFlavor(t, testPodNames) }

func testPodNames(t *testing.T, e *env) {
	e.fetchBusybox()
	run, uuid := e.startPrepared("web-1", "--name", "web-1", "--label", "tier=web", "--annotation", "note=first pod",
		"example.com/busybox", "--name", "httpd", "--exec", "/bin/sh", "--",
		"-c", `echo "uuid=$PODCTL_POD_UUID name=$PODCTL_POD_NAME"; exec sleep 60`)

	st := e.namedStatus("web-1")
	if st.UUID != uuid || st.Name != "web-1" || st.State != "running" || st.Labels["tier"] != "web" || st.Annotations["note"] != "first pod" {
		t.Fatalf("status web-1: %+v", st)
	}
	// The app has the name given after the image; the pod, the one before.
	if out := e.must("enter", "--app", "httpd", "web-1", "/bin/sh", "-c", `echo "$PODCTL_POD_UUID $PODCTL_POD_NAME $AC_APP_NAME"`); strings.TrimSpace(out) != uuid+" web-1 httpd" {
		t.Errorf("enter web-1: the app sees %q, want %q", out, uuid+" web-1 httpd")
	}
	waitLog(t, e, "web-1", "uuid="+uuid+" name=web-1")
	if out := e.must("cat-manifest", "web-1"); !strings.Contains(out, `"podctl.io/name"`) {
		t.Errorf("cat-manifest web-1 lacks the name annotation:\n%s", out)
	}

	// Taken while the pod runs: nothing is created.
	before := e.podDirs()
	checkRefused(t, "a name in use", e.podctl("run", "--name", "web-1", "example.com/busybox", "--exec", "/bin/true"), `pod name "web-1" is taken`)
	if after := e.podDirs(); len(after) != len(before) {
		t.Fatalf("a refused name left a pod: %v", after)
	}

	if out := e.must("stop", "web-1"); strings.TrimSpace(out) != uuid {
		t.Fatalf("stop web-1 printed %q, want the UUID", out)
	}
	run.Wait()
	if st := e.namedStatus("web-1"); st.State != "exited" {
		t.Fatalf("after stop web-1: %+v", st)
	}
	// Still taken by the exited pod, which is not removed yet.
	checkRefused(t, "the name of an exited pod", e.podctl("prepare", "--name", "web-1", "example.com/busybox"), "is taken")
	if out := e.must("rm", "web-1"); strings.TrimSpace(out) != uuid {
		t.Fatalf("rm web-1 printed %q", out)
	}
	checkRefused(t, "status of a removed name", e.podctl("status", "web-1"), `no pod named "web-1"`)

	// Free again; and free again after gc removes its next pod.
	r := e.podctl("run", "--name", "web-1", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", `echo "[$PODCTL_POD_NAME]"`)
	if r.code != 0 || !strings.Contains(r.stdout, "[web-1]") {
		t.Fatalf("run --name web-1 after rm: %s", r)
	}
	e.must("gc")
	e.must("gc", "--grace-period=0s")
	if dirs := e.podDirs(); len(dirs) != 0 {
		t.Fatalf("gc left pods: %v", dirs)
	}
	r = e.podctl("run", "--name", "web-1", "example.com/busybox", "--exec", "/bin/true")
	if r.code != 0 {
		t.Fatalf("run --name web-1 after gc: %s", r)
	}

	// A pod without a name: its apps see an empty PODCTL_POD_NAME.
	r = e.podctl("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", `echo "name=[$PODCTL_POD_NAME] set=${PODCTL_POD_NAME+yes} uuid=$PODCTL_POD_UUID"`)
	if r.code != 0 || !strings.Contains(r.stdout, "name=[] set=yes uuid=") || strings.Contains(r.stdout, "uuid=\n") {
		t.Fatalf("a pod without a name: %s", r)
	}
}

// waitLog waits for an app's log to hold want.
func waitLog(t *testing.T, e *env, pod, want string) {
	t.Helper()
	var r result
	for i := 0; i < 250; i++ {
		if r = e.podctl("logs", pod); strings.Contains(r.stdout, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the log of pod %s never showed %q: %s", pod, want, r)
}

// TestPodNameRace runs pods with one name at once: exactly one is made, the
// others exit 254 with one line and leave no pod. Several rounds, so that
// some losers lose at the early check and some when the name is claimed.
func TestPodNameRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	for round := 0; round < 5; round++ {
		const n = 4
		results := make([]result, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = e.podctl("run", "--name", "race", "example.com/busybox", "--exec", "/bin/true")
			}()
		}
		wg.Wait()
		won := 0
		for _, r := range results {
			if r.code == 0 {
				won++
				continue
			}
			checkRefused(t, "a losing run --name race", r, `pod name "race" is taken`)
		}
		if won != 1 {
			t.Fatalf("round %d: %d of %d runs with one name succeeded, want 1: %v", round, won, n, results)
		}
		if dirs := e.podDirs(); len(dirs) != 1 {
			t.Fatalf("round %d: %d pods left, want 1: %v", round, len(dirs), dirs)
		}
		e.must("rm", "race")
	}
}

// TestListFilters: state, label, name, image, before and since select the
// right pods, and list --count counts them.
func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	other := filepath.Join(t.TempDir(), "other.aci")
	if err := writeBusyboxACI(other, "example.com/other", nil); err != nil {
		t.Fatal(err)
	}
	e.must("fetch", "--insecure-options=image", other)

	e.must("run", "--name", "a-web", "--label", "tier=web", "--label", "env=prod", "example.com/busybox", "--exec", "/bin/true")
	bUUID := lastLine(e.must("prepare", "--name", "b-db", "--label", "tier=db", "--label", "env=prod", "example.com/busybox"))
	if r := e.podctl("run", "--label", "tier=web", "example.com/other", "--exec", "/bin/sh", "--", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("third pod: %s", r)
	}
	var cUUID string
	for _, p := range e.list() {
		if p.UUID != bUUID && p.State == "exited" && len(p.Apps) == 1 && p.Apps[0].ExitCode != nil && *p.Apps[0].ExitCode == 3 {
			cUUID = p.UUID
		}
	}
	c := "-" + cUUID
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	for _, tc := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{c, "a-web", "b-db"}},
		{[]string{"state=prepared"}, []string{"b-db"}},
		{[]string{"state=exited"}, []string{c, "a-web"}},
		{[]string{"state=exited,state=prepared"}, []string{c, "a-web", "b-db"}},
		{[]string{"state=running"}, []string{}},
		{[]string{"label=tier=web"}, []string{c, "a-web"}},
		{[]string{"label=env=prod"}, []string{"a-web", "b-db"}},
		{[]string{"label=tier=web", "label=env=prod"}, []string{"a-web"}},
		{[]string{"label=tier=web,label=env"}, []string{"a-web"}},
		{[]string{"label=env", "state=prepared"}, []string{"b-db"}},
		{[]string{"label=nothing"}, []string{}},
		{[]string{"name=a-web"}, []string{"a-web"}},
		{[]string{"name=*-*"}, []string{"a-web", "b-db"}},
		{[]string{"name=a-*,name=b-*"}, []string{"a-web", "b-db"}},
		{[]string{"name="}, []string{c}},
		{[]string{"image=example.com/other"}, []string{c}},
		{[]string{"image=example.com/busybox:1.0"}, []string{"a-web", "b-db"}},
		{[]string{"image=example.com/busybox:9"}, []string{}},
		{[]string{"before=b-db"}, []string{"a-web"}},
		{[]string{"since=b-db"}, []string{c}},
		{[]string{"since=a-web", "before=" + cUUID[:13]}, []string{"b-db"}},
		{[]string{"before=" + future}, []string{c, "a-web", "b-db"}},
		{[]string{"since=" + future}, []string{}},
		{[]string{"since=1h"}, []string{c, "a-web", "b-db"}},
	} {
		if got := e.listed(tc.filters...); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("list --filter %q shows %q, want %q", tc.filters, got, tc.want)
		}
	}

	var counts struct {
		Total  int            `json:"total"`
		States map[string]int `json:"states"`
	}
	out := e.must("list", "--count", "--format=json")
	if err := json.Unmarshal([]byte(out), &counts); err != nil {
		t.Fatalf("list --count --format=json printed %q: %v", out, err)
	}
	if counts.Total != 3 || counts.States["exited"] != 2 || counts.States["prepared"] != 1 || counts.States["running"] != 0 {
		t.Fatalf("list --count: %s", out)
	}
	if _, ok := counts.States["running"]; !ok {
		t.Errorf("list --count --format=json leaves out a state without pods: %s", out)
	}
	text := e.must("list", "--count", "--filter", "label=tier=web")
	if want := "STATE   PODS\nexited  2\ntotal   2\n"; text != want {
		t.Errorf("list --count --filter label=tier=web printed\n%s\nwant\n%s", text, want)
	}
	table := e.must("list")
	for _, want := range []string{"NAME", "LABELS", "a-web", "b-db", "env=prod,tier=web", "tier=db"} {
		if !strings.Contains(table, want) {
			t.Errorf("list lacks %q:\n%s", want, table)
		}
	}

	for _, bad := range []struct{ filter, want string }{
		{"state=sleeping", "no such state"},
		{"colour=red", "unknown filter"},
		{"nokey", "KEY=VALUE"},
		{"before=no-such-pod", "neither a time"},
		{"name=[", "malformed"},
	} {
		checkRefused(t, "list --filter "+bad.filter, e.podctl("list", "--filter", bad.filter), bad.want)
	}
}

// TestSecretEnv: a secret reaches the apps on every flavor and is never
// written to any file of the data directory, while the pod runs and after
// it has exited. The app compares the value (by its hash, so that neither
// the value nor the command holds it) instead of printing it, since what
// it prints goes to its log.
func TestSecretEnv(t *testing.T) { forEachFlavor(t, testSecretEnv) }

func testSecretEnv(t *testing.T, e *env) {
	e.fetchBusybox()
	secrets := t.TempDir()
	podSecret, appSecret := randomSecret(t), randomSecret(t)
	podFile, appFile := filepath.Join(secrets, "pod"), filepath.Join(secrets, "app")
	// A final newline is not part of the value.
	if err := os.WriteFile(podFile, []byte(podSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(appFile, []byte(appSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	check := `[ "$(printf %s "$SECRET" | /bin/busybox sha256sum)" = "` + sha(podSecret) + `  -" ] && echo secret-ok; ` +
		`[ "$(printf %s "$OTHER" | /bin/busybox sha256sum)" = "` + sha(appSecret) + `  -" ] && echo other-ok; ` +
		`[ "$PLAIN" = plain ] && echo plain-ok; `
	run, uuid := e.startPrepared("", "--name", "secretive", "--set-env", "SECRET=not-this", "--set-env-secret", "SECRET="+podFile,
		"example.com/busybox", "--environment-secret", "OTHER="+appFile, "--environment", "PLAIN=plain",
		"--exec", "/bin/sh", "--", "-c", check+"exec sleep 60")
	waitLog(t, e, "secretive", "plain-ok")
	logs := e.must("logs", "secretive")
	for _, want := range []string{"secret-ok", "other-ok"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the app did not see its secret (%s missing): %q", want, logs)
		}
	}
	// Entering the app gives its environment, secrets included: the check
	// passes there too.
	if out := e.podctl("enter", uuid, "/bin/sh", "-c", check); !strings.Contains(out.stdout, "secret-ok") {
		t.Errorf("enter does not see the secret: %s", out)
	}
	checkNoSecret(t, e, "while the pod runs", podSecret, appSecret)
	e.must("stop", uuid)
	run.Wait()
	checkNoSecret(t, e, "after the pod exited", podSecret, appSecret)
	for _, args := range [][]string{{"status", "--format=json", uuid}, {"list", "--format=json"}, {"cat-manifest", uuid}, {"logs", uuid}} {
		out := e.must(args...)
		if strings.Contains(out, podSecret) || strings.Contains(out, appSecret) {
			t.Errorf("podctl %s shows a secret", strings.Join(args, " "))
		}
	}
	if m := e.must("cat-manifest", uuid); !strings.Contains(m, podFile) || strings.Contains(m, "not-this") {
		t.Errorf("the manifest should name the secret's file and drop the plain value it replaces:\n%s", m)
	}

	// A secret file gone when a prepared pod starts: the pod fails to
	// start, saying so in one line.
	gone := filepath.Join(secrets, "gone")
	if err := os.WriteFile(gone, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := lastLine(e.must("prepare", "--quiet", "--set-env-secret", "GONE="+gone, "example.com/busybox", "--exec", "/bin/true"))
	os.Remove(gone)
	r := e.podctl("run-prepared", id)
	if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, gone) {
		t.Errorf("run-prepared with its secret file gone: want a failure with one line naming %s, got %s", gone, r)
	}
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "sekrit-" + hex.EncodeToString(b)
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// checkNoSecret reads every file (and every symlink) under the data
// directory and fails if one holds a secret.
func checkNoSecret(t *testing.T, e *env, when string, secrets ...string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		var b []byte
		switch {
		case d.IsDir() && path == filepath.Join(e.dir, "netns"):
			// Network namespaces bound on files: nothing to read.
			return filepath.SkipDir
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return nil
			}
			b = []byte(target)
		case d.Type().IsRegular():
			b, err = os.ReadFile(path)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			files++
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) || strings.Contains(path, s) {
				t.Errorf("%s: %s holds a secret value", when, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the data directory: %v", err)
	}
	if files < 5 {
		t.Fatalf("%s: only %d files under the data directory: the walk looked at nothing", when, files)
	}
}

// TestBadIdentityFlags: bad names, labels, annotations and secrets are
// refused in one line, exit 254, before any pod exists.
func TestBadIdentityFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	img := []string{"example.com/busybox", "--exec", "/bin/true"}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--name", "Web"}, "is not valid"},
		{[]string{"--name", "web_1"}, "is not valid"},
		{[]string{"--name", strings.Repeat("x", 64)}, "is not valid"},
		{[]string{"--name", "beef"}, "start of a pod UUID"},
		{[]string{"--name", "5b1f2c3d-0a1b"}, "start of a pod UUID"},
		{[]string{"--name", "10m"}, "time or a duration"},
		{[]string{"--label", "novalue"}, "KEY=VALUE"},
		{[]string{"--label", "k=a,b"}, "without a comma"},
		{[]string{"--label", "k=1", "--label", "k=2"}, "given twice"},
		{[]string{"--label", "bad key=1"}, "is not valid"},
		{[]string{"--annotation", "=x"}, "is not valid"},
		{[]string{"--set-env-secret", "NOFILE"}, "NAME=FILE"},
		{[]string{"--set-env-secret", "S=/nonexistent/secret"}, "/nonexistent/secret"},
		{[]string{"--set-env", "PODCTL_POD_NAME=x"}, "set by podctl"},
		{[]string{"--set-env-secret", "PODCTL_POD_UUID=/etc/hostname"}, "set by podctl"},
	} {
		args := append(append([]string{"run"}, tc.flags...), img...)
		checkRefused(t, strings.Join(tc.flags, " "), e.podctl(args...), tc.want)
	}
	checkRefused(t, "an app's missing secret file", e.podctl("prepare", "example.com/busybox", "--environment-secret", "S=/nonexistent/secret"), "/nonexistent/secret")
	if dirs := e.podDirs(); len(dirs) != 0 {
		t.Fatalf("refused flags left pods: %v", dirs)
	}
	if names, _ := filepath.Glob(filepath.Join(e.dir, "names", "*")); len(names) != 0 {
		t.Fatalf("refused flags left names: %v", names)
	}
}
