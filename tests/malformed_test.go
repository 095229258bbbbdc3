package tests

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A manifest that appc's decoder cannot take safely (an isolator without
// a value) is refused by fetch in one line, leaving the store as it was.
func TestMalformedImageManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := func(isolators string) string {
		return `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/malformed",
"app":{"exec":["/bin/sh"],"user":"0","group":"0","isolators":` + isolators + `}}`
	}
	for _, c := range []struct{ what, manifest, want string }{
		{"isolator without value", app(`[{"name":"resource/memory"}]`), `isolator "resource/memory" has no value`},
		{"isolator with a null value", app(`[{"name":"os/linux/no-new-privileges","value":null}]`), `isolator "os/linux/no-new-privileges" has no value`},
		{"quantity appc would take minutes over", app(`[{"name":"resource/memory","value":{"limit":"1e-999999999"}}]`), "has an exponent beyond"},
		{"quantity that is no number", app(`[{"name":"resource/memory","value":{"limit":"xx"}}]`), "quantities must match"},
		{"manifest cut short", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/malformed","labels":[`, "unexpected end of JSON input"},
		{"name appc does not take", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Example..com/x"}`, "ACIdentifier must contain only"},
		{"variable set twice", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/malformed","app":{"exec":["/bin/sh"],"user":"0","group":"0","environment":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}}`, `duplicate environment variable of name "A"`},
	} {
		t.Run(strings.ReplaceAll(c.what, " ", "_"), func(t *testing.T) {
			aci := filepath.Join(t.TempDir(), "malformed.aci")
			writeACI(t, aci, c.manifest)
			// A refusal takes milliseconds; a parser gone astray, minutes.
			r, ended := e.podctlWithin(time.Minute, "fetch", "--insecure-options=image", aci)
			if !ended {
				t.Fatalf("fetch of an image with a %s was still running after a minute", c.what)
			}
			checkNoPanic(t, "fetch", r)
			if r.code == 0 {
				t.Fatalf("fetch of an image with a %s succeeded: %s", c.what, r)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
				t.Fatalf("fetch should say in one line that %q: %s", c.want, r)
			}
			if out := strings.TrimSpace(e.must("image", "list", "--format=json")); out != "[]" {
				t.Fatalf("the store lists %s after a refused fetch", out)
			}
			for _, d := range []string{"blobs/*/*", "tmp/*", "trees/*"} {
				if left, _ := filepath.Glob(filepath.Join(e.dir, "images", d)); len(left) != 0 {
					t.Fatalf("a refused fetch left %v in the store", left)
				}
			}
		})
	}
}

// One pod whose files are damaged (a manifest appc's decoder cannot take,
// an app's exit status or the pod's result that is not JSON) is shown with
// what is wrong with it; list, status, gc, image gc and rm keep working
// for it and for every other pod.
func TestMalformedPodFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	prepare := func(args ...string) string {
		return lastLine(e.must(append(append([]string{"prepare", "--quiet"}, args...), "example.com/busybox", "--exec", "/bin/true")...))
	}
	run := func() string {
		file := filepath.Join(t.TempDir(), "uuid")
		if r := e.podctl("run", "--uuid-file-save", file, "example.com/busybox", "--exec", "/bin/true"); r.code != 0 {
			t.Fatalf("podctl run: %s", r)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	goodPrepared, goodExited := prepare(), run()
	badManifest := prepare("--name", "damaged")
	badExitedManifest, badStatus, badResult := run(), run(), run()

	valueless := func(uuid string) {
		path := e.podFile(uuid, "pod")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		app := m["apps"].([]any)[0].(map[string]any)["app"].(map[string]any)
		app["isolators"] = []any{map[string]any{"name": "resource/memory"}}
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	valueless(badManifest)
	valueless(badExitedManifest)
	if err := os.WriteFile(e.podFile(badStatus, "apps/busybox/exit"), []byte("garbage\x00{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.podFile(badResult, "result"), []byte(`{"result":`), 0o600); err != nil {
		t.Fatal(err)
	}
	problems := map[string]string{
		badManifest:       `isolator "resource/memory" has no value`,
		badExitedManifest: `isolator "resource/memory" has no value`,
		badStatus:         "reading exit status of app busybox",
		badResult:         "reading the result of pod",
	}
	goods := []string{goodPrepared, goodExited}

	// list, as a table and as JSON: every pod, the damaged ones saying
	// what is wrong.
	r := e.podctl("list", "--full")
	checkNoPanic(t, "list", r)
	if r.code != 0 {
		t.Fatalf("list: %s", r)
	}
	for _, id := range append(goods, badManifest, badExitedManifest, badStatus, badResult) {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("list does not show pod %s:\n%s", id, r.stdout)
		}
	}
	for id, want := range problems {
		if !strings.Contains(r.stderr, "pod "+id+": ") || !strings.Contains(r.stderr, want) {
			t.Errorf("list does not say of pod %s that %q:\n%s", id, want, r.stderr)
		}
	}
	checkListJSON := func(want map[string]string, goods []string) {
		t.Helper()
		r := e.podctl("list", "--format=json")
		checkNoPanic(t, "list --format=json", r)
		var pods []struct {
			podJSON
			Problems []string `json:"problems"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &pods); r.code != 0 || err != nil {
			t.Fatalf("list --format=json (%v): %s", err, r)
		}
		byID := map[string]int{}
		for i, p := range pods {
			byID[p.UUID] = i
		}
		for _, id := range goods {
			i, ok := byID[id]
			if !ok {
				t.Errorf("list --format=json does not show good pod %s: %s", id, r.stdout)
			} else if len(pods[i].Apps) != 1 || len(pods[i].Problems) != 0 {
				t.Errorf("list --format=json shows good pod %s as %+v", id, pods[i])
			}
		}
		for id, problem := range want {
			i, ok := byID[id]
			if !ok || !strings.Contains(strings.Join(pods[i].Problems, "\n"), problem) {
				t.Errorf("list --format=json does not say of pod %s that %q: %s", id, problem, r.stdout)
			}
		}
	}
	checkListJSON(problems, goods)

	// status of each damaged pod: its state, and on stderr what is wrong.
	for id, want := range problems {
		r := e.podctl("status", id)
		checkNoPanic(t, "status", r)
		if r.code != 0 || !strings.Contains(r.stdout, "state=") || !strings.Contains(r.stderr, want) {
			t.Errorf("status of pod %s should show its state and say %q: %s", id, want, r)
		}
		r = e.podctl("status", "--format=json", id)
		checkNoPanic(t, "status --format=json", r)
		if r.code != 0 || !strings.Contains(r.stdout, `"problems"`) {
			t.Errorf("status --format=json of pod %s: %s", id, r)
		}
	}
	if st := e.status(goodExited); st.State != "exited" || len(st.Apps) != 1 || st.Apps[0].ExitCode == nil {
		t.Errorf("status of the good exited pod: %+v", st)
	}

	// gc marks every exited pod, damaged or not; image gc keeps the image
	// the pods use; rm removes a damaged pod and frees its name.
	r = e.podctl("gc")
	checkNoPanic(t, "gc", r)
	if r.code != 0 {
		t.Fatalf("gc: %s", r)
	}
	for _, id := range []string{goodExited, badExitedManifest, badStatus, badResult} {
		if !strings.Contains(r.stdout, "marked exited pod "+id) {
			t.Errorf("gc did not mark pod %s:\n%s", id, r)
		}
	}
	r = e.podctl("image", "gc", "--grace-period=0s")
	checkNoPanic(t, "image gc", r)
	if r.code != 0 {
		t.Fatalf("image gc: %s", r)
	}
	if out := e.must("image", "list", "--no-legend"); !strings.Contains(out, "example.com/busybox") {
		t.Fatalf("image gc removed the image the pods use:\n%s", out)
	}
	for _, id := range []string{badManifest, badStatus} {
		r := e.podctl("rm", id)
		checkNoPanic(t, "rm", r)
		if r.code != 0 {
			t.Fatalf("rm of damaged pod %s: %s", id, r)
		}
		if dir := e.podDirOf(id); dir != "" {
			t.Errorf("rm left pod %s at %s", id, dir)
		}
	}
	delete(problems, badManifest)
	delete(problems, badStatus)
	checkListJSON(problems, goods)
	// The damaged pod's name was freed with it.
	prepare("--name", "damaged")

	r = e.podctl("gc", "--grace-period=0s")
	checkNoPanic(t, "gc", r)
	if r.code != 0 {
		t.Fatalf("gc --grace-period=0s: %s", r)
	}
	for _, id := range []string{goodExited, badExitedManifest, badResult} {
		if dir := e.podDirOf(id); dir != "" {
			t.Errorf("gc --grace-period=0s left pod %s at %s:\n%s", id, dir, r)
		}
	}
	checkListJSON(nil, []string{goodPrepared})
}

// checkNoPanic fails the test if podctl crashed.
func checkNoPanic(t *testing.T, what string, r result) {
	t.Helper()
	for _, s := range []string{"panic", "goroutine", "SIGSEGV"} {
		if strings.Contains(r.stderr, s) || strings.Contains(r.stdout, s) {
			t.Fatalf("podctl %s crashed: %s", what, r)
		}
	}
}

// podDirOf is the folder of pod uuid in whichever state it is, or "".
func (e *env) podDirOf(uuid string) string {
	for _, d := range e.podDirs() {
		if filepath.Base(d) == uuid {
			return d
		}
	}
	return ""
}

// podFile is the path of a file of pod uuid.
func (e *env) podFile(uuid, name string) string {
	e.t.Helper()
	dir := e.podDirOf(uuid)
	if dir == "" {
		e.t.Fatalf("no pod %s in %s", uuid, e.dir)
	}
	return filepath.Join(dir, name)
}

// writeACI writes an ACI holding the manifest given and an empty rootfs.
func writeACI(t *testing.T, path, manifest string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	hdrs := []*tar.Header{
		{Name: "manifest", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg, ModTime: mtime},
		{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mtime},
	}
	for i, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := tw.Write([]byte(manifest)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
