package stage0

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"podctl/internal/flock"
	"podctl/lifecycle"
)

// FuzzInfo fills a real pod's directory with files the fuzzer chooses (its
// manifest, an app's exit status, its result and networks, its pid, the
// times of its files) and reads it as list and status do. Whatever the files hold, the
// pod is shown, what could not be read is a one-line problem, and the
// whole encodes as JSON: list --format=json shows every pod or none.
func FuzzInfo(f *testing.F) {
	manifest := `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"good","image":{"name":"example.com/good","id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0","labels":[{"name":"version","value":"1.0"}]},"app":{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[{"name":"resource/memory","value":{"limit":"64M"}}]}}],"annotations":[{"name":"podctl.io/name","value":"web"}],"userLabels":{"a":"b"},"userAnnotations":{"note":"x"}}`
	exit := `{"exit_code":3,"reason":"Error","started_at":"2026-12-06T13:04:33.349506537Z","finished_at":"2026-12-06T13:04:33.364217005Z","restart_count":0}`
	result := `{"result":"error","message":"app good exited with 3","exit_code":3}`
	history := "2026-12-06T13:04:33.34833312Z preparing\n2026-12-06T13:04:33.348820894Z running\n"
	now := time.Now().Unix()
	f.Add([]byte(manifest), []byte(exit), []byte(result), []byte(history), []byte("1234\n"), now, false)
	f.Add([]byte(manifest), []byte(exit), []byte(result), []byte(history), []byte("1234\n"), now, true)
	f.Add([]byte(strings.Replace(manifest, `"value":{"limit":"64M"}`, ``, 1)), []byte("garbage"), []byte("{"), []byte{}, []byte("x"), int64(1e12), true)
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, []byte{}, int64(-1e12), false)
	networks := `[{"network":"default","interface":"eth0","address":"10.47.0.5/16","gateway":"10.47.0.1"}]`
	f.Add([]byte(manifest), []byte(exit), []byte(networks), []byte(history), []byte("1234\n"), now, true)

	d, id, dir := runPodDir(f)
	for _, sub := range []string{lifecycle.AppDir("good"), lifecycle.DirStage1} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			f.Fatal(err)
		}
	}
	// Another descriptor of the pod's folder, locked or not, makes the pod
	// running or exited to whoever opens it next.
	lock, err := os.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { lock.Close() })

	f.Fuzz(func(t *testing.T, manifest, exit, result, history, pid []byte, mtime int64, running bool) {
		for name, data := range map[string][]byte{
			lifecycle.FileManifest:          manifest,
			lifecycle.AppStatusFile("good"): exit,
			lifecycle.FileResult:            result,
			// The networks a running pod recorded, which status shows.
			lifecycle.FileNetworks:            result,
			lifecycle.FileHistory:             history,
			lifecycle.FilePid:                 pid,
			lifecycle.AppRestartsFile("good"): pid,
		} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		tm := time.Unix(mtime, 0)
		for _, name := range []string{lifecycle.FileCreated, lifecycle.FilePid} {
			if err := os.Chtimes(filepath.Join(dir, name), tm, tm); err != nil {
				t.Fatal(err)
			}
		}
		if running {
			if err := flock.Lock(lock, flock.Exclusive); err != nil {
				t.Fatal(err)
			}
			defer flock.Unlock(lock)
		}
		c := Config{DataDir: d}
		pi, err := Status(c, id)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if pi.UUID != id {
			t.Fatalf("Status shows pod %q, want %s", pi.UUID, id)
		}
		if want := map[bool]string{true: "running", false: "exited"}[running]; pi.State.String() != want && !(running && pi.State.Condition == Paused) {
			t.Fatalf("state %q, want %q", pi.State, want)
		}
		for _, prob := range pi.Problems {
			if prob == "" || strings.ContainsAny(prob, "\r\n") {
				t.Fatalf("problem %q is not one line", prob)
			}
		}
		if _, err := json.Marshal(pi); err != nil {
			t.Fatalf("status of the pod does not encode: %v", err)
		}
		pods, err := List(c)
		if err != nil || len(pods) != 1 || pods[0].UUID != id {
			t.Fatalf("List = %v, %v; want the one pod", pods, err)
		}
		if _, err := json.Marshal(pods); err != nil {
			t.Fatalf("list does not encode: %v", err)
		}
	})
}

// FuzzInfoSummary gives an exited pod a current summary whose data the
// fuzzer chooses, as a damaged or hand-made file would hold, and reads the
// pod as list and status do: whatever the summary holds, the pod is shown
// as itself, exited, and encodes as JSON.
func FuzzInfoSummary(f *testing.F) {
	f.Add([]byte(`{"name":"web","labels":{"a":"b"},"result":{"result":"error","exit_code":3},"stage1":"native","created_at":"2026-12-06T13:04:33Z","apps":[{"name":"good","image_version":"1.0"}],"source":{"file":"/etc/podctl/pods/web.pod","digest":"sha256:00"}}`))
	f.Add([]byte(`{"apps":[null],"networks":null,"labels":null,"source":{"file":""}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"created_at":"9999-12-31T23:59:59Z","private_users":{"uid":-1}}`))

	d, id, dir := runPodDir(f)
	manifest := `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"good","image":{"name":"example.com/good","id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0"},"app":{"exec":["/bin/sh"],"user":"0","group":"0"}}]}`
	if err := os.WriteFile(filepath.Join(dir, lifecycle.FileManifest), []byte(manifest), 0o600); err != nil {
		f.Fatal(err)
	}
	c := Config{DataDir: d}

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := c.OpenPod(id)
		if err != nil {
			t.Fatal(err)
		}
		err = p.WriteSummary(data)
		p.Close()
		if err != nil {
			t.Fatalf("WriteSummary: %v", err)
		}
		pi, err := Status(c, id)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if pi.UUID != id || pi.State.String() != "exited" {
			t.Fatalf("Status shows pod %q %s, want %s exited", pi.UUID, pi.State, id)
		}
		if _, err := json.Marshal(pi); err != nil {
			t.Fatalf("status of the pod does not encode: %v", err)
		}
	})
}

// runPodDir makes a data directory with one pod in run/, and returns the
// data directory, the pod's UUID and its directory.
func runPodDir(f *testing.F) (d, id, dir string) {
	d = f.TempDir()
	if err := lifecycle.Init(d); err != nil {
		f.Fatal(err)
	}
	p, err := lifecycle.NewPod(d)
	if err != nil {
		f.Fatal(err)
	}
	if err := p.ToRun(); err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	return d, p.UUID, p.Path()
}
