package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Output people can script: one line per pod in list, RFC 3339 times with
// a zone in key=value and JSON output, one-word state names, one image ID
// length per kind of output. The flavor does not matter: these use fly.

func flyEnv(t *testing.T) *env {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	return e
}

// twoAppPod runs a pod of two apps, web and check, which exits 2.
func (e *env) twoAppPod() string {
	e.t.Helper()
	r := e.podctl("run", "--uuid-file-save", filepath.Join(e.dir, "uuid"),
		"example.com/busybox", "--name", "web", "--exec", "/bin/true", "---",
		"example.com/busybox", "--name", "check", "--exec", "/bin/sh", "--", "-c", "exit 2")
	if r.code != 2 {
		e.t.Fatalf("run of two apps: %s", r)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "uuid"))
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestOutputListOneLinePerPod(t *testing.T) {
	e := flyEnv(t)
	uuid := e.twoAppPod()
	prepared := lastLine(e.must("prepare", "--name", "one", "example.com/busybox"))

	out := e.must("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("list: want a header and one line per pod:\n%s", out)
	}
	header := strings.Fields(lines[0])
	if want := "UUID NAME APPS IMAGES STATE RESULT EXIT CREATED STARTED NETWORKS LABELS"; strings.Join(header, " ") != want {
		t.Errorf("list header %q, want %q", header, want)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	// What awk '{print $1, ..., $7}' sees.
	if f := rows[uuid[:8]]; len(f) < 7 || strings.Join(f[1:7], " ") != "- web,check example.com/busybox,example.com/busybox exited error 0,2" {
		t.Errorf("the two-app pod's fields: %q\n%s", f, out)
	}
	if f := rows[prepared[:8]]; len(f) < 7 || strings.Join(f[1:7], " ") != "one busybox example.com/busybox prepared - -" {
		t.Errorf("the prepared pod's fields: %q\n%s", f, out)
	}

	out = e.must("list", "--apps", "--no-legend", "--filter", "name=")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], uuid[:8]) ||
		strings.Fields(lines[0])[2] != "web" || strings.Fields(lines[1])[0] != "check" {
		t.Errorf("list --apps: want a line per app, the second without the pod's cells:\n%s", out)
	}

	// JSON is per pod, as it was.
	pods := e.list()
	if len(pods) != 2 {
		t.Fatalf("list --format=json: %+v", pods)
	}
}

// timeRE finds the times of a text output.
var timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ][0-9:.]+[^ \n]*`)

// checkTextTime fails unless s is RFC 3339 to the millisecond with a zone.
func checkTextTime(t *testing.T, what, s string) {
	t.Helper()
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !regexp.MustCompile(`\.\d{3}(Z|[+-]\d\d:\d\d)$`).MatchString(s) {
		t.Errorf("%s: time %q is not RFC 3339 to the millisecond with a zone (%v)", what, s, err)
	}
}

func TestOutputTimes(t *testing.T) {
	e := flyEnv(t)
	uuid := e.twoAppPod()
	gc := e.must("gc")
	if m := regexp.MustCompile(`a gc run after (\S+) \(`).FindStringSubmatch(gc); m == nil {
		t.Errorf("gc names no time: %s", gc)
	} else {
		checkTextTime(t, "gc", m[1])
	}
	verbose := e.must("gc", "--verbose")
	if m := regexp.MustCompile(`a gc run after (\S+) removes`).FindStringSubmatch(verbose); m == nil {
		t.Errorf("gc --verbose names no time: %s", verbose)
	} else {
		checkTextTime(t, "gc --verbose", m[1])
	}

	text := e.must("status", uuid)
	keys := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "created", "started", "gc-marked":
			keys[k] = true
			checkTextTime(t, "status "+k, v)
		case "history":
			keys[k] = true
			tm, _, _ := strings.Cut(v, " ")
			checkTextTime(t, "status history", tm)
		}
	}
	if len(keys) != 4 {
		t.Errorf("status lacks some times (%v):\n%s", keys, text)
	}
	// Nothing else in the output looks like a time.
	if n := len(timeRE.FindAllString(text, -1)); n != strings.Count(text, "created=")+strings.Count(text, "started=")+strings.Count(text, "gc-marked=")+strings.Count(text, "history=") {
		t.Errorf("status has %d times in other places:\n%s", n, text)
	}

	// Every time in JSON, wherever it is, parses with its zone.
	var walk func(path string, v any)
	found := 0
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		case string:
			if timeRE.MatchString(v) {
				found++
				if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
					t.Errorf("JSON %s: %q is not RFC 3339 with a zone", path, v)
				}
			}
		}
	}
	for _, args := range [][]string{{"status", "--format=json", uuid}, {"list", "--format=json"}, {"image", "list", "--format=json"}, {"events", "--format=json"}} {
		out := e.must(args...)
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var v any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			walk(args[0], v)
		}
	}
	if found < 10 {
		t.Errorf("only %d times in the JSON outputs", found)
	}

	// events text and list --full: the same form as status.
	for _, l := range strings.Split(strings.TrimSpace(e.must("events")), "\n") {
		checkTextTime(t, "events", strings.Fields(l)[0])
	}
	f := strings.Fields(e.must("list", "--full", "--no-legend"))
	if len(f) < 11 {
		t.Fatalf("list --full: %q", f)
	}
	checkTextTime(t, "list --full CREATED", f[8])
	checkTextTime(t, "list --full STARTED", f[9])
}

func TestOutputStateNames(t *testing.T) {
	e := flyEnv(t)
	uuid := e.twoAppPod()
	e.must("gc")
	for _, filter := range []string{"state=exited-garbage", "state=exited garbage"} {
		out := e.must("list", "--no-legend", "--filter", filter)
		if f := strings.Fields(out); len(f) < 5 || f[0] != uuid[:8] || f[4] != "exited-garbage" {
			t.Errorf("list --filter %s: want the pod, exited-garbage in STATE:\n%s", filter, out)
		}
	}
	text := e.must("status", uuid)
	if !strings.Contains(text, "state=exited-garbage\n") || !strings.HasSuffix(text, " exited-garbage\n") {
		t.Errorf("status of a marked pod:\n%s", text)
	}
	if st := e.status(uuid); st.State != "exited-garbage" {
		t.Errorf("status --format=json: state %q", st.State)
	}
	var counts struct {
		States map[string]int `json:"states"`
	}
	if err := json.Unmarshal([]byte(e.must("list", "--count", "--format=json")), &counts); err != nil {
		t.Fatal(err)
	}
	for s := range counts.States {
		if strings.ContainsAny(s, " _") {
			t.Errorf("list --count: state %q is not one word", s)
		}
	}
	if counts.States["exited-garbage"] != 1 {
		t.Errorf("list --count: %v", counts.States)
	}
	if r := e.podctl("list", "--filter", "state=sleeping"); r.code != 254 || !strings.Contains(r.stderr, "aborted-prepare") || strings.Contains(r.stderr, "aborted prepare") {
		t.Errorf("a bad state filter should list the one-word names: %s", r)
	}

	// A pod whose history an older version wrote, with a spaced name,
	// shows today's name.
	hist := filepath.Join(e.dir, "pods", "exited-garbage", uuid, "history")
	b, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(hist, []byte(strings.ReplaceAll(string(b), "exited-garbage", "exited garbage")), 0o600)
	if text := e.must("status", uuid); !strings.HasSuffix(text, " exited-garbage\n") || strings.Contains(text, "exited garbage") {
		t.Errorf("status of a pod with an old history:\n%s", text)
	}
}

func TestOutputImageIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	short := regexp.MustCompile(`^sha512-[0-9a-f]{12}$`)
	whole := regexp.MustCompile(`^sha512-[0-9a-f]{64}$`)
	id := strings.TrimSpace(e.must("fetch", "--insecure-options=image", busyboxACI))
	if !short.MatchString(id) {
		t.Fatalf("fetch printed %q, want sha512- and 12 hex digits", id)
	}
	full := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", busyboxACI))
	if !whole.MatchString(full) || !strings.HasPrefix(full, id) {
		t.Fatalf("fetch --full printed %q", full)
	}
	if f := strings.Fields(e.must("image", "list", "--no-legend")); len(f) == 0 || f[0] != id {
		t.Errorf("image list shows %q, want the ID fetch printed, %s", f, id)
	}
	if f := strings.Fields(e.must("image", "list", "--no-legend", "--full")); len(f) == 0 || f[0] != full {
		t.Errorf("image list --full shows %q", f)
	}
	var imgs []struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(e.must("image", "list", "--format=json")), &imgs)
	if len(imgs) != 1 || imgs[0].ID != full {
		t.Errorf("image list --format=json: %+v", imgs)
	}
	uuid := lastLine(e.must("prepare", "--stage1=fly", id))
	if st := e.status(uuid); len(st.Apps) != 1 || st.Apps[0].ImageID != full {
		t.Errorf("status --format=json: image ID %+v, want %s", st.Apps, full)
	}
	if f := strings.Fields(e.must("list", "--full", "--no-legend")); len(f) < 5 || f[4] != full {
		t.Errorf("list --full: image ID %q, want %s", f, full)
	}

	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", "x"), []byte("x"), 0o644)
	imported := strings.TrimSpace(e.must("image", "import", root, "--name", "example.com/x"))
	if !short.MatchString(imported) {
		t.Errorf("image import printed %q", imported)
	}
	if out := e.must("image", "rm", "example.com/x"); out != "removed image "+imported+"\n" {
		t.Errorf("image rm printed %q, want the short ID %s", out, imported)
	}
	e.must("rm", uuid)
	out := e.must("image", "gc", "--grace-period=0s")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) != 2 || !short.MatchString(f[1]) {
			t.Errorf("image gc printed %q, want removed and a short ID", l)
		}
	}
	if !strings.Contains(out, "removed "+id+"\n") {
		t.Errorf("image gc did not name the image by its short ID %s: %q", id, out)
	}
}
