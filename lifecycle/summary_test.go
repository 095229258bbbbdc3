package lifecycle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exitedPodT is exitedPod for a test: one exited pod with a manifest,
// opened.
func exitedPodT(t *testing.T) (string, *Pod) {
	t.Helper()
	d := newDataDir(t)
	p := mustNewPod(t, d)
	if err := p.WriteFile(FileManifest, []byte(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[]}`), false); err != nil {
		t.Fatal(err)
	}
	if err := p.ToRun(); err != nil {
		t.Fatal(err)
	}
	id := p.UUID
	p.Close()
	p, err := PodFromUUIDString(d, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.State() != Exited {
		t.Fatalf("pod is %s, want exited", p.State())
	}
	return d, p
}

func TestSummaryIsRebuiltWhenStale(t *testing.T) {
	d, p := exitedPodT(t)
	if _, ok := p.Summary(); ok {
		t.Fatal("a pod without a summary has one")
	}
	if err := p.WriteSummary([]byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	got, ok := p.Summary()
	if !ok || string(got) != `{"x":1}` {
		t.Fatalf("summary = %q, %v; want {\"x\":1}", got, ok)
	}

	// A copy of the pod under another UUID does not take its summary.
	other := filepath.Join(filepath.Dir(p.Path()), "0f8fad5b-d9cb-469f-a165-70867728950e")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FileManifest, FileSummary, FileCreated} {
		b, err := os.ReadFile(filepath.Join(p.Path(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(other, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	q, err := PodFromUUIDString(d, filepath.Base(other))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, ok := q.Summary(); ok {
		t.Fatal("a copied pod reads the summary of the pod it was copied from")
	}

	// A manifest changed after the summary makes it stale.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p.FilePath(FileManifest), later, later); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Summary(); ok {
		t.Fatal("a summary older than the manifest is still read")
	}
}

func TestSummaryOnlyForExitedPods(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	defer p.Close()
	if err := p.WriteSummary([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.FilePath(FileSummary)); !os.IsNotExist(err) {
		t.Fatalf("a preparing pod got a summary (stat: %v)", err)
	}
	// A pod marked for collection keeps its mark time in its ctime: no
	// file is added to it.
	_, e := exitedPodT(t)
	if err := e.TryExclusiveLock(); err != nil {
		t.Fatal(err)
	}
	if err := e.ToExitedGarbage(); err != nil {
		t.Fatal(err)
	}
	e.Unlock()
	e2, err := e.Refresh()
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	marked, err := e2.GCMarkedTime()
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.WriteSummary([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e2.FilePath(FileSummary)); !os.IsNotExist(err) {
		t.Fatalf("a marked pod got a summary (stat: %v)", err)
	}
	if again, _ := e2.GCMarkedTime(); !again.Equal(marked) {
		t.Fatalf("mark time moved from %v to %v", marked, again)
	}
}

func TestRemoveSyncedSkipsOnlyEarlierMoves(t *testing.T) {
	d, p := exitedPodT(t)
	if err := p.TryExclusiveLock(); err != nil {
		t.Fatal(err)
	}
	if err := p.ToExitedGarbage(); err != nil {
		t.Fatal(err)
	}
	if p.movedBefore(time.Now()) {
		t.Fatal("a pod moved just now counts as moved before now: its folder would not be synced")
	}
	synced, err := SyncGarbageFolders(d)
	if err != nil {
		t.Fatal(err)
	}
	if !p.movedBefore(synced.Add(2 * clockGrain)) {
		t.Fatal("a pod moved well before the sync counts as not moved before it")
	}
	if err := p.RemoveSynced(synced); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Path()); !os.IsNotExist(err) {
		t.Fatalf("pod still there: %v", err)
	}
}

// FuzzSummary feeds parseSummary any bytes: it must not panic, and
// accepts only a header naming this version, pod and manifest.
func FuzzSummary(f *testing.F) {
	f.Add([]byte("podctl-summary 1 u k\n{\"name\":\"\"}"))
	f.Add([]byte("podctl-summary 2 u k exited\nn \"\"\n"))
	f.Add([]byte(summaryMagic + " " + summaryVersion + " u k exited\nn \"\"\n"))
	f.Add([]byte(summaryMagic + " " + summaryVersion + " u k running\nn \"\"\n"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kind := range []string{summaryExited, summaryRunning} {
			data, ok := parseSummary(b, "u", "k", kind)
			if !ok {
				continue
			}
			if !bytes.HasPrefix(b, []byte(summaryMagic+" "+summaryVersion+" u k "+kind+"\n")) || len(data) == 0 {
				t.Fatalf("accepted %q as %s", b, kind)
			}
		}
	})
}

// runningPodT is a pod with a manifest, moved to run/ and locked by the
// test as its stage1 would be, so that it reads as running; closed when
// the test ends.
func runningPodT(t *testing.T) *Pod {
	t.Helper()
	p := mustNewPod(t, newDataDir(t))
	t.Cleanup(func() { p.Close() })
	if err := p.WriteFile(FileManifest, []byte(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[]}`), false); err != nil {
		t.Fatal(err)
	}
	if err := p.ToRun(); err != nil {
		t.Fatal(err)
	}
	if p.State() != Running {
		t.Fatalf("pod is %s, want running", p.State())
	}
	return p
}

func TestRunningSummaryIsKeyedByManifestAndLayout(t *testing.T) {
	p := runningPodT(t)
	key, err := p.RunningSummaryKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteRunningSummary(key, []byte("n \"x\"\n")); err != nil {
		t.Fatal(err)
	}
	if got, ok := p.RunningSummary(); !ok || string(got) != "n \"x\"\n" {
		t.Fatalf("running summary = %q, %v", got, ok)
	}
	// An exited pod's reader takes no running pod's summary: a pod that
	// has just ended shows its apps' ends, not what was true while it ran.
	b, err := os.ReadFile(p.FilePath(FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parseSummary(b, p.UUID, key, summaryExited); ok {
		t.Fatal("a running pod's summary reads as an exited pod's")
	}
	// A key taken before the manifest changed leaves a stale summary.
	if err := p.WriteFile(FileManifest, []byte(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[],"annotations":[]}`), false); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteRunningSummary(key, []byte("n \"x\"\n")); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.RunningSummary(); ok {
		t.Fatal("a summary of the manifest before app add is still read")
	}
	// So does a layout file written anew.
	if key, err = p.RunningSummaryKey(); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteRunningSummary(key, []byte("n \"x\"\n")); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.RunningSummary(); !ok {
		t.Fatal("a current running summary is not read")
	}
	layout, err := os.ReadFile(p.FilePath(FileLayout))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFile(FileLayout, layout, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.RunningSummary(); ok {
		t.Fatal("a running summary outlives a change of the layout file")
	}
}

// A running summary written before the pod is ready names stage1's start
// files in its key; one written once it is ready names the networks and
// not the pid and cgroup record, which stage1 writes before any app can be
// ready and never again.
func TestRunningSummaryKeyOnceReady(t *testing.T) {
	p := runningPodT(t)
	write := func(name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p.FilePath(name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteFile(name, []byte("1\n"), false); err != nil {
			t.Fatal(err)
		}
	}
	summarize := func() string {
		t.Helper()
		key, err := p.RunningSummaryKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WriteRunningSummary(key, []byte("n \"x\"\n")); err != nil {
			t.Fatal(err)
		}
		if _, ok := p.RunningSummary(); !ok {
			t.Fatalf("a current running summary (key %s) is not read", key)
		}
		return key
	}
	write(FilePid)
	write(FileCgroup)
	if key := summarize(); strings.Contains(key, readyKeyMark) {
		t.Fatalf("key %s of a pod not ready is marked ready", key)
	}
	write(FilePid)
	if _, ok := p.RunningSummary(); ok {
		t.Fatal("a summary outlives a new pid of a pod not ready")
	}
	write(FileReady)
	// The summary of a pod not yet ready stays current once it is.
	summarize()
	os.Remove(p.FilePath(FileSummary))
	if key := summarize(); !strings.Contains(key, readyKeyMark) {
		t.Fatalf("key %s of a ready pod is not marked ready", key)
	}
	write(FilePid)
	if err := os.Remove(p.FilePath(FileCgroup)); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.RunningSummary(); !ok {
		t.Fatal("a ready pod's summary is stale after its pid and cgroup record changed")
	}
	write(FileNetworks)
	if _, ok := p.RunningSummary(); ok {
		t.Fatal("a ready pod's summary outlives its networks written")
	}
	summarize()
	write(FileLayout)
	if _, ok := p.RunningSummary(); ok {
		t.Fatal("a ready pod's summary outlives a change of the layout file")
	}
}
