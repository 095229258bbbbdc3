package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The summaries list keeps in each pod (an exited pod's, and a running
// pod's of what its manifest says) are caches: whatever state one is
// found in, torn, of another kind, missing, not a file, list and status
// print what the pod's own files say, and the next list writes it anew.

// summaryOf reads the summary of pod id in state folder folder.
func summaryOf(t *testing.T, e *env, folder, id string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "pods", folder, id, "summary"))
	if err != nil {
		t.Fatalf("the summary of pod %s: %v", id, err)
	}
	return b
}

// wholeSummary reports whether b is a whole summary of pod id, of kind.
func wholeSummary(b []byte, id, kind string) bool {
	header, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(header))
	return len(f) == 5 && f[0] == "podctl-summary" && f[2] == id && f[4] == kind && bytes.HasSuffix(b, []byte("\ne\n"))
}

func TestSummaryCacheExitedDamaged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	r := e.podctl("run", "--insecure-options=image", "--name=torn", "--label=k=v w", busyboxACI, "--exec", "/bin/sh", "--", "-c", "exit 7")
	if r.code != 7 {
		t.Fatalf("podctl run of an app exiting 7: %s", r)
	}
	id := e.list()[0].UUID
	path := filepath.Join(e.dir, "pods", "run", id, "summary")
	// The first list reads the pod's files and writes the summary.
	wantJSON := e.must("list", "--format=json")
	wantText := e.must("list", "--full")
	wantStatus := e.must("status", id)
	good := summaryOf(t, e, "run", id)
	if !wholeSummary(good, id, "exited") {
		t.Fatalf("the summary list wrote is not whole:\n%s", good)
	}
	header, _, _ := bytes.Cut(good, []byte("\n"))
	// The header is "podctl-summary VERSION UUID KEY KIND".
	fields := bytes.Fields(header)
	if len(fields) != 5 {
		t.Fatalf("the summary's header has %d fields: %q", len(fields), header)
	}
	withVersion := func(v string) []byte {
		h := bytes.Join([][]byte{fields[0], []byte(v), fields[2], fields[3], fields[4]}, []byte(" "))
		return append(append(h, '\n'), good[len(header)+1:]...)
	}
	cases := map[string][]byte{
		"torn in half":       good[:len(good)/2],
		"torn at a line":     good[:bytes.LastIndex(good, []byte("\np "))+1],
		"without its end":    bytes.TrimSuffix(good, []byte("e\n")),
		"of a running pod":   bytes.Replace(good, []byte(" exited\n"), []byte(" running\n"), 1),
		"of version 1":       withVersion("1"),
		"of another version": withVersion(string(fields[1]) + "0"),
		"of an older manifest": append(append(bytes.Replace(header, []byte(":"), []byte("9:"), 1), '\n'),
			bytes.Replace(good[len(header)+1:], []byte(`n "torn"`), []byte(`n "forged"`), 1)...),
		"empty":        {},
		"header alone": append(header, '\n'),
		"garbage":      []byte("\x00\xff\n\n\"\n"),
	}
	for name, b := range cases {
		if bytes.Equal(b, good) {
			t.Fatalf("the case %q leaves the summary whole: it tests nothing", name)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := e.must("list", "--format=json"); got != wantJSON {
			t.Fatalf("list with a summary %s:\n%s\nwant:\n%s", name, got, wantJSON)
		}
		if b := summaryOf(t, e, "run", id); !bytes.Equal(b, good) {
			t.Fatalf("list did not write the summary anew after one %s:\n%s", name, b)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := e.must("list", "--full"); got != wantText {
			t.Fatalf("list with a summary %s:\n%s\nwant:\n%s", name, got, wantText)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := e.must("status", id); got != wantStatus {
			t.Fatalf("status with a summary %s:\n%s\nwant:\n%s", name, got, wantStatus)
		}
	}

	// Not a regular file: read from the files, and never waited on.
	for name, mk := range map[string]func() error{
		"a FIFO":             func() error { return syscall.Mkfifo(path, 0o600) },
		"a folder":           func() error { return os.Mkdir(path, 0o700) },
		"a dangling symlink": func() error { return os.Symlink("/nonexistent", path) },
	} {
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
		if err := mk(); err != nil {
			t.Fatal(err)
		}
		done := make(chan string, 1)
		go func() { done <- e.must("list", "--format=json") }()
		select {
		case got := <-done:
			if got != wantJSON {
				t.Fatalf("list with %s for a summary:\n%s\nwant:\n%s", name, got, wantJSON)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("list with %s for a summary did not end within 60 s", name)
		}
	}
}

// A running pod's summary holds what its manifest says; what changes
// while it runs is read afresh, a damaged summary is written anew, and
// once the pod has exited the exited pod's summary replaces it.
func TestSummaryCacheRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	// The app waits for a file in its own root, which podctl enter makes.
	cmd, id := e.startPod("--name=runner", "--label=tier=web", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
		"while [ ! -e /go-on ]; do sleep 0.05; done; exit 5")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", id)

	// The first list parses the manifest and writes the summary.
	wantJSON := e.must("list", "--format=json")
	if !strings.Contains(wantJSON, `"state":"running"`) || !strings.Contains(wantJSON, `"name":"runner"`) {
		t.Fatalf("list of the running pod: %s", wantJSON)
	}
	good := summaryOf(t, e, "run", id)
	if !wholeSummary(good, id, "running") {
		t.Fatalf("no running pod's summary after list:\n%s", good)
	}
	if got := e.must("list", "--format=json"); got != wantJSON {
		t.Fatalf("list of the running pod from its summary:\n%s\nwant:\n%s", got, wantJSON)
	}
	path := filepath.Join(e.dir, "pods", "run", id, "summary")
	for name, b := range map[string][]byte{
		"torn":             good[:len(good)/2],
		"of an exited pod": bytes.Replace(good, []byte(" running\n"), []byte(" exited\n"), 1),
		"empty":            {},
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := e.must("list", "--format=json"); got != wantJSON {
			t.Fatalf("list with a running pod's summary %s:\n%s\nwant:\n%s", name, got, wantJSON)
		}
		if b := summaryOf(t, e, "run", id); !bytes.Equal(b, good) {
			t.Fatalf("list did not write the running pod's summary anew after one %s:\n%s", name, b)
		}
	}

	// The app ends: its exit code shows, though the summary was written
	// while it ran, and the exited pod's summary replaces the running one.
	if r := e.enterUntil(id, "/bin/touch", "/go-on"); r.code != 0 {
		t.Fatalf("podctl enter to let the app end: %s", r)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if p := e.status(id); p.State == "exited" {
			if len(p.Apps) != 1 || p.Apps[0].ExitCode == nil || *p.Apps[0].ExitCode != 5 {
				t.Fatalf("the exited pod's apps: %+v", p.Apps)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s has not exited 60 s after its app was told to", id)
		}
	}
	text := e.must("list", "--no-legend")
	for _, want := range []string{id[:8], "runner", "exited", "tier=web", " 5 "} {
		if !strings.Contains(text, want) {
			t.Errorf("list of the exited pod lacks %q:\n%s", want, text)
		}
	}
	if b := summaryOf(t, e, "run", id); !wholeSummary(b, id, "exited") {
		t.Fatalf("the exited pod's summary did not replace the running one:\n%s", b)
	}
}

// A running mutable pod's summary goes stale when an app is added (the
// manifest is written anew): list shows the new app.
func TestSummaryCacheMutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	e.fetchBusybox()
	cmd, id := e.startMutable(false, "--net=none")
	defer cmd.Wait()
	defer e.podctl("stop", "--force", id)
	if pods := e.list(); len(pods) != 1 || len(pods[0].Apps) != 0 {
		t.Fatalf("list of a mutable pod with no app: %+v", pods)
	}
	if b := summaryOf(t, e, "run", id); !wholeSummary(b, id, "running") {
		t.Fatalf("no running pod's summary after list:\n%s", b)
	}
	e.must("app", "add", id, "example.com/busybox", "--name", "late", "--exec", "/bin/sleep", "--", "600")
	pods := e.list()
	if len(pods) != 1 || len(pods[0].Apps) != 1 || pods[0].Apps[0].Name != "late" || pods[0].Apps[0].State != "created" {
		t.Fatalf("list after app add: %+v, want the app late, created", pods)
	}
	if b := summaryOf(t, e, "run", id); !bytes.Contains(b, []byte(`p "late"`)) {
		t.Fatalf("the summary was not written anew after app add:\n%s", b)
	}
	e.must("app", "start", id, "--app=late")
	if pods := e.list(); len(pods) != 1 || len(pods[0].Apps) != 1 || pods[0].Apps[0].State != "running" {
		t.Fatalf("list after app start: %+v, want the app running", pods)
	}
}
