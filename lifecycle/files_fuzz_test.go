package lifecycle

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fuzz targets below write what a pod directory may hold, as bytes
// the fuzzer chooses, into a real exited pod and read it back the way
// list, status, gc and rm do. Seeds are files real pods wrote.

// exitedPod makes a data directory holding one exited pod, opened. The
// pod's files are rewritten by each run of a target.
func exitedPod(f *testing.F) *Pod {
	f.Helper()
	d := f.TempDir()
	if err := Init(d); err != nil {
		f.Fatal(err)
	}
	p, err := NewPod(d)
	if err != nil {
		f.Fatal(err)
	}
	if err := p.ToRun(); err != nil {
		f.Fatal(err)
	}
	// Closing releases the lock: a pod in run/ whose lock is free has exited.
	id := p.UUID
	p.Close()
	p, err = PodFromUUIDString(d, id)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	if p.State() != Exited {
		f.Fatalf("pod is %s, want exited", p.State())
	}
	if err := os.MkdirAll(filepath.Join(p.Path(), AppDir("a")), 0o700); err != nil {
		f.Fatal(err)
	}
	return p
}

func writePodFile(t *testing.T, p *Pod, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.Path(), name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error %q is not one line", err)
	}
}

const podManifestSeed = `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"good","image":{"name":"example.com/good","id":"sha512-0b2d4d09f0864241c2a6959266ebe80cb635993eca5e7f7604edbb866afdccc0","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"},{"name":"version","value":"1.0"}]},"app":{"exec":["/bin/sh","-c","exit 3"],"user":"0","group":"0","environment":[{"name":"X","value":"1"}],"isolators":[{"name":"resource/memory","value":{"limit":"64M"}},{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_BIND_SERVICE"]}}]},"annotations":[{"name":"podctl.io/rlimits","value":"nofile=1024:4096"},{"name":"podctl.io/oom-score-adj","value":"100"}]}],"volumes":null,"isolators":null,"annotations":[{"name":"podctl.io/name","value":"web"}],"ports":null,"userLabels":{"a":"b"}}`

// FuzzPodManifest reads a pod manifest back from a pod directory.
func FuzzPodManifest(f *testing.F) {
	f.Add([]byte(podManifestSeed))
	f.Add([]byte(strings.Replace(podManifestSeed, `{"name":"resource/memory","value":{"limit":"64M"}}`, `{"name":"resource/memory"}`, 1)))
	f.Add([]byte(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[],"volumes":[{"name":"data","kind":"host","source":"/srv","readOnly":true}]}`))
	p := exitedPod(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		writePodFile(t, p, FileManifest, data)
		b, m, err := p.PodManifest()
		if err != nil {
			checkOneLine(t, err)
			if !strings.Contains(err.Error(), p.UUID) {
				t.Fatalf("error %q does not name the pod", err)
			}
			return
		}
		if !bytes.Equal(b, data) {
			t.Fatal("PodManifest returned other bytes than the file's")
		}
		for _, ra := range m.Apps {
			// Readers join the app's name to the pod's path.
			if n := ra.Name.String(); n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
				t.Fatalf("app name %q is not one path element", n)
			}
		}
	})
}

// FuzzAppStatus reads an app's exit status file. What parses is written
// again by WriteAppStatus and reads back the same.
func FuzzAppStatus(f *testing.F) {
	f.Add([]byte(`{"exit_code":3,"reason":"Error","started_at":"2026-12-06T13:04:33.349506537Z","finished_at":"2026-12-06T13:04:33.364217005Z","restart_count":0}`))
	f.Add([]byte(`{"exit_code":137,"signal":"SIGKILL","reason":"OOMKilled","message":"app a used more than its memory limit","started_at":"2026-12-06T13:04:33.349506537+01:00","finished_at":"2026-12-06T13:04:34Z","restart_count":2}`))
	f.Add([]byte(`{"exit_code":0,"reason":"Completed","started_at":"0001-01-01T00:00:00Z","finished_at":"0001-01-01T00:00:00Z","restart_count":0}`))
	p := exitedPod(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		writePodFile(t, p, AppStatusFile("a"), data)
		st, err := p.AppStatus("a")
		code, cerr := p.AppExitCode("a")
		if (err == nil) != (cerr == nil) || (err == nil && code != st.ExitCode) {
			t.Fatalf("AppStatus %+v, %v but AppExitCode %d, %v", st, err, code, cerr)
		}
		if err != nil {
			checkOneLine(t, err)
			return
		}
		first, err := json.Marshal(st)
		if err != nil {
			// Only a time outside years 0-9999 does not encode, and
			// RFC 3339 as JSON gives none.
			t.Fatalf("status %+v does not encode: %v", st, err)
		}
		if err := p.WriteAppStatus("a", st); err != nil {
			t.Fatal(err)
		}
		again, err := p.AppStatus("a")
		if err != nil {
			t.Fatalf("status written again does not read: %v", err)
		}
		if second, _ := json.Marshal(again); !bytes.Equal(first, second) {
			t.Fatalf("status changed in a round trip:\n%s\n%s", first, second)
		}
	})
}

// FuzzResult reads the pod's result file. What parses is written again by
// WriteResult and reads back the same.
func FuzzResult(f *testing.F) {
	f.Add([]byte(`{"result":"error","message":"app good exited with 3","exit_code":3}`))
	f.Add([]byte(`{"result":"success","message":"every app exited 0","exit_code":0}`))
	f.Add([]byte(`{"result":"timeout","message":"the pod's timeout of 1s was up"}`))
	p := exitedPod(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		writePodFile(t, p, FileResult, data)
		r, err := p.Result()
		if err != nil {
			checkOneLine(t, err)
			return
		}
		if r == nil {
			t.Fatal("an exited pod has no result")
		}
		first, _ := json.Marshal(r)
		if err := p.WriteResult(r); err != nil {
			t.Fatal(err)
		}
		again, err := p.Result()
		if err != nil {
			t.Fatalf("result written again does not read: %v", err)
		}
		if second, _ := json.Marshal(again); !bytes.Equal(first, second) {
			t.Fatalf("result changed in a round trip:\n%s\n%s", first, second)
		}
	})
}

// FuzzHistory reads the pod's history. Every change read is one line again
// in the form AppendHistory writes, and reads back the same.
func FuzzHistory(f *testing.F) {
	f.Add([]byte("2026-12-06T13:04:33.34833312Z preparing\n2026-12-06T13:04:33.348820894Z running\n2026-12-06T13:04:33.362631173Z ready\n2026-12-06T13:04:33.365110319Z exited\n"))
	f.Add([]byte("2026-12-06T13:04:33Z prepared\n2026-11-25T10:00:0"))
	f.Add([]byte("2026-12-06T13:04:33+02:00 paused\r\n" + strings.Repeat("x", 70000) + "\n2026-12-06T13:04:34Z resumed\n"))
	p := exitedPod(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		writePodFile(t, p, FileHistory, data)
		h, err := p.History()
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		var again bytes.Buffer
		for _, c := range h {
			if c.State == "" || strings.ContainsAny(c.State, "\n") {
				t.Fatalf("state %q is not one line", c.State)
			}
			again.WriteString(c.Time.Format(time.RFC3339Nano) + " " + c.State + "\n")
		}
		h2 := parseHistory(again.Bytes())
		if len(h2) != len(h) {
			t.Fatalf("%d changes read back as %d", len(h), len(h2))
		}
		for i := range h {
			if h2[i].State != h[i].State || !h2[i].Time.Equal(h[i].Time) {
				t.Fatalf("change %+v read back as %+v", h[i], h2[i])
			}
		}
	})
}
