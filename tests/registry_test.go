package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startRegistry runs Debian's docker-registry on 127.0.0.1 and a free
// port, with its storage in a temporary folder, until the test ends (or
// stop), and returns its host:port.
func startRegistry(t *testing.T) (host string, stop func()) {
	t.Helper()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		t.Fatal("need docker-registry: apt-get install -y docker-registry (build.sh does)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host = l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	// The registry takes REGISTRY_* variables as settings.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return host, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s", host)
		}
	}
}

// A registry image is fetched (by tag and by digest) and run, with its
// entrypoint, cmd, env, user and working dir, on every flavor; plain HTTP
// needs --insecure-options=http.
func TestRegistryPull(t *testing.T) {
	oci, _, _ := toolImages(t)
	host, _ := startRegistry(t)
	dir := strings.TrimSuffix(strings.TrimPrefix(oci, "oci:"), ":1.0")
	runTool(t, "", "skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:"+dir+":1.0", "docker://"+host+"/busybox:1.0")
	ref := "docker://" + host + "/busybox:1.0"
	forEachFlavor(t, func(t *testing.T, e *env) {
		r := e.podctl("fetch", "--insecure-options=image", ref)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "--insecure-options=http") {
			t.Fatalf("a plain HTTP registry without --insecure-options=http: want one line naming the option, got %s", r)
		}
		id := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image,http", ref))
		out := e.must("run", id)
		for _, want := range []string{"hi bar\n", "1000\n1000\n", "/work\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("the pulled image ran %q, want %q in it", out, want)
			}
		}
		// By its name and tag, as it was pulled.
		if out := e.must("run", host+"/busybox:1.0", "--exec", "/bin/echo", "--", "by-name"); !strings.Contains(out, "by-name") {
			t.Errorf("run by name: %q", out)
		}
		var img []struct {
			ID, Reference, Digest, Format string
		}
		mustJSON(t, e.must("image", "list", "--format=json"), &img)
		if len(img) != 1 || img[0].ID != id || img[0].Reference != ref || !strings.HasPrefix(img[0].Digest, "sha256:") {
			t.Fatalf("image list: %+v", img)
		}
		// By digest: the same image.
		byDigest := "docker://" + host + "/busybox@" + img[0].Digest
		if id2 := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image,http", byDigest)); id2 != id {
			t.Fatalf("fetch by digest gave %s, by tag %s", id2, id)
		}
		// A tag the registry does not have: one line, nothing stored.
		r = e.podctl("fetch", "--insecure-options=image,http", "docker://"+host+"/busybox:nope")
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Fatalf("a missing tag: %s", r)
		}
		mustJSON(t, e.must("image", "list", "--format=json"), &img)
		if len(img) != 1 {
			t.Fatalf("after a failed pull the store lists %+v", img)
		}
		if left, _ := filepath.Glob(filepath.Join(e.dir, "images", "tmp", "*")); len(left) != 0 {
			t.Fatalf("a failed pull left %v", left)
		}
	})
}

// mustJSON decodes what a podctl command printed as JSON into v.
func mustJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON (%v): %s", err, out)
	}
}

// --pull-policy: new (the default) takes a registry image the store has
// without asking the registry, never never asks it, update always does.
func TestRegistryPullPolicy(t *testing.T) {
	t.Parallel()
	oci, _, _ := toolImages(t)
	host, stop := startRegistry(t)
	dir := strings.TrimSuffix(strings.TrimPrefix(oci, "oci:"), ":1.0")
	runTool(t, "", "skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:"+dir+":1.0", "docker://"+host+"/busybox:1.0")
	e := newEnv(t)
	ref := "docker://" + host + "/busybox:1.0"
	if r := e.podctl("fetch", "--pull-policy=never", "--insecure-options=image,http", ref); r.code == 0 || !strings.Contains(r.stderr, "--pull-policy=never") {
		t.Fatalf("never, with nothing in the store: %s", r)
	}
	id := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image,http", ref))
	stop()
	for _, policy := range []string{"never", "new"} {
		if got := strings.TrimSpace(e.must("fetch", "--full", "--pull-policy="+policy, "--insecure-options=image,http", ref)); got != id {
			t.Fatalf("--pull-policy=%s with the registry gone gave %s, want the stored %s", policy, got, id)
		}
	}
	if r := e.podctl("fetch", "--pull-policy=update", "--insecure-options=image,http", ref); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("update with the registry gone: want one line, got %s", r)
	}
	if r := e.podctl("fetch", "--pull-policy=sometimes", ref); r.code == 0 || !strings.Contains(r.stderr, "never, new and update") {
		t.Fatalf("a bad policy: %s", r)
	}
}
