package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// fakeRegistry poses as a registry on 127.0.0.1 over plain HTTP: it
// serves one image, busybox:1, made of a config and one layer, and lets a
// test change what it answers.
type fakeRegistry struct {
	srv       *httptest.Server
	manifest  []byte
	mdigest   string
	blobs     map[string][]byte
	layer     string // the layer's digest
	user, pwd string // basic auth, if user is set
	// hook, if set, answers a request instead of the registry when it
	// returns true.
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	t.Helper()
	var tarball, layerBuf bytes.Buffer
	tw := tar.NewWriter(&tarball)
	content := bytes.Repeat([]byte("layer bytes "), 1000)
	tw.WriteHeader(&tar.Header{Name: "file", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write(content)
	tw.Close()
	// Level 0: the layer is as long as its content, which the size
	// tests count on.
	zw, _ := gzip.NewWriterLevel(&layerBuf, gzip.NoCompression)
	zw.Write(tarball.Bytes())
	zw.Close()
	layer := layerBuf.Bytes()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digestOf(tarball.Bytes()) + `"]},"config":{}}`)
	f := &fakeRegistry{blobs: map[string][]byte{digestOf(layer): layer, digestOf(config): config}, layer: digestOf(layer)}
	f.setManifest(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		digestOf(config), len(config), digestOf(layer), len(layer)))
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRegistry) setManifest(m string) {
	f.manifest = []byte(m)
	f.mdigest = digestOf(f.manifest)
}

func (f *fakeRegistry) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pwd {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if f.hook != nil && f.hook(w, r) {
		return
	}
	switch p := r.URL.Path; {
	case p == "/v2/":
		w.WriteHeader(http.StatusOK)
	case p == "/v2/busybox/manifests/1" || p == "/v2/busybox/manifests/"+f.mdigest:
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", f.mdigest)
		w.Write(f.manifest)
	case strings.HasPrefix(p, "/v2/busybox/blobs/"):
		b, ok := f.blobs[strings.TrimPrefix(p, "/v2/busybox/blobs/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
	}
}

// isolate keeps a test's pull away from the machine's credentials and
// mirrors.
func isolate(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PODCTL_DIR", home)
	for _, v := range []string{"REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(v, "")
	}
}

// runPull runs the pull verb and returns its status, stdout and stderr.
func runPull(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	var out bytes.Buffer
	code := pullMain(args, &out, errf)
	msg, err := os.ReadFile(errf.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), string(msg)
}

// checkLayout checks that dir is an OCI layout holding one whole image
// with the manifest digest want.
func checkLayout(t *testing.T, dir, want string) {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != want {
		t.Fatalf("layout %s: index %+v, want one manifest %s", dir, im.Manifests, want)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("layout %s: %v", dir, err)
	}
}

// checkRefused checks a pull that failed: one line on stderr, saying
// what is expected, and nothing left beside DIR.
func checkRefused(t *testing.T, code int, stderr, want, dir string) {
	t.Helper()
	if code != 254 {
		t.Errorf("exit status %d, want 254", code)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "podctl: ") {
		t.Errorf("stderr is not one podctl line: %q", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not say %q", stderr, want)
	}
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("a refused pull left %s beside %s", strings.Join(names, ", "), dir)
	}
}

func TestPullFake(t *testing.T) {
	isolate(t)
	f := newFakeRegistry(t)
	dir := filepath.Join(t.TempDir(), "img")
	code, out, stderr := runPull(t, "--insecure-options=http", "docker://"+f.host()+"/busybox:1", dir)
	if code != 0 {
		t.Fatalf("pull: %d %s", code, stderr)
	}
	if strings.TrimSpace(out) != f.mdigest {
		t.Errorf("pull printed %q, want %s", out, f.mdigest)
	}
	checkLayout(t, dir, f.mdigest)
	// Off a terminal, one line per layer.
	if !strings.Contains(stderr, strings.TrimPrefix(f.layer, "sha256:")[:12]+": ") {
		t.Errorf("no progress line for the layer: %q", stderr)
	}
	code, _, stderr = runPull(t, "--insecure-options=http", "docker://"+f.host()+"/busybox:1", dir)
	if code != 254 || !strings.Contains(stderr, "already exists") {
		t.Errorf("a pull into an existing folder: %d %q", code, stderr)
	}

	quiet := filepath.Join(t.TempDir(), "img")
	code, _, stderr = runPull(t, "--quiet", "--insecure-options=http", "docker://"+f.host()+"/busybox@"+f.mdigest, quiet)
	if code != 0 || stderr != "" {
		t.Fatalf("quiet pull by digest: %d %q", code, stderr)
	}
	checkLayout(t, quiet, f.mdigest)
}

// TestPullIndex: from a multi-platform image, the manifest for this
// host's platform is pulled.
func TestPullIndex(t *testing.T) {
	isolate(t)
	f := newFakeRegistry(t)
	other := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":10,"platform":{"os":"linux","architecture":"s390x"}}`
	this := fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"platform":{"os":"linux","architecture":%q}}`, f.mdigest, len(f.manifest), runtime.GOARCH)
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + other + "," + this + `]}`)
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v2/busybox/manifests/multi" {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		w.Write(index)
		return true
	}
	dir := filepath.Join(t.TempDir(), "img")
	code, out, stderr := runPull(t, "--quiet", "--insecure-options=http", "docker://"+f.host()+"/busybox:multi", dir)
	if code != 0 || strings.TrimSpace(out) != f.mdigest {
		t.Fatalf("pull of an index: %d %q %s", code, out, stderr)
	}
	checkLayout(t, dir, f.mdigest)
}

func TestPullPlainHTTPNeedsOption(t *testing.T) {
	isolate(t)
	f := newFakeRegistry(t)
	dir := filepath.Join(t.TempDir(), "img")
	code, _, stderr := runPull(t, "docker://"+f.host()+"/busybox:1", dir)
	checkRefused(t, code, stderr, "--insecure-options=http", dir)
}

func TestPullCredentials(t *testing.T) {
	isolate(t)
	f := newFakeRegistry(t)
	f.user, f.pwd = "someone", "secret:with colon"
	dir := filepath.Join(t.TempDir(), "img")
	code, _, stderr := runPull(t, "--insecure-options=http", "docker://"+f.host()+"/busybox:1", dir)
	checkRefused(t, code, stderr, "401", dir)

	auth := filepath.Join(t.TempDir(), "auth.json")
	entry := base64.StdEncoding.EncodeToString([]byte(f.user + ":" + f.pwd))
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{f.host(): map[string]string{"auth": entry}}})
	if err := os.WriteFile(auth, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{"REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"} {
		t.Run(where, func(t *testing.T) {
			isolate(t)
			if where == "REGISTRY_AUTH_FILE" {
				t.Setenv(where, auth)
			} else {
				d := t.TempDir()
				os.Mkdir(filepath.Join(d, "containers"), 0o700)
				if err := os.WriteFile(filepath.Join(d, "containers", "auth.json"), b, 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv(where, d)
			}
			dir := filepath.Join(t.TempDir(), "img")
			if code, _, stderr := runPull(t, "--insecure-options=http", "docker://"+f.host()+"/busybox:1", dir); code != 0 {
				t.Fatalf("pull with credentials in %s: %s", where, stderr)
			}
			checkLayout(t, dir, f.mdigest)
		})
	}
	t.Run("docker", func(t *testing.T) {
		isolate(t)
		home := os.Getenv("HOME")
		os.Mkdir(filepath.Join(home, ".docker"), 0o700)
		if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "img")
		if code, _, stderr := runPull(t, "--insecure-options=http", "docker://"+f.host()+"/busybox:1", dir); code != 0 {
			t.Fatalf("pull with credentials in ~/.docker/config.json: %s", stderr)
		}
	})
}

func TestPullMirror(t *testing.T) {
	isolate(t)
	origin := newFakeRegistry(t)
	mirror := newFakeRegistry(t)
	var served atomic.Bool
	mirror.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			served.Store(true)
		}
		return false
	}
	dir := filepath.Join(t.TempDir(), "img")
	code, _, stderr := runPull(t, "--quiet", "--insecure-options=http", "--mirror", origin.host()+"="+mirror.host(), "docker://"+origin.host()+"/busybox:1", dir)
	if code != 0 || !served.Load() {
		t.Fatalf("pull through a mirror: %d served=%v %q", code, served.Load(), stderr)
	}
	checkLayout(t, dir, mirror.mdigest)

	// A mirror without the image: the registry itself serves it, and the
	// mirror's failure is a note.
	mirror.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
			return true
		}
		return false
	}
	data := os.Getenv("PODCTL_DIR")
	cfg := fmt.Sprintf(`{"mirrors":{%q:[%q]}}`, origin.host(), mirror.host())
	if err := os.WriteFile(filepath.Join(data, mirrorsFile), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "img")
	code, _, stderr = runPull(t, "--quiet", "--insecure-options=http", "docker://"+origin.host()+"/busybox:1", dir)
	if code != 0 || !strings.Contains(stderr, "note: mirror "+mirror.host()) {
		t.Fatalf("fallback from a mirror: %d %q", code, stderr)
	}
	checkLayout(t, dir, origin.mdigest)
}

// TestPullHostile: what a hostile registry sends is refused in one line,
// and nothing is left beside DIR.
func TestPullHostile(t *testing.T) {
	isolate(t)
	for _, c := range []struct {
		name  string
		args  []string
		setup func(f *fakeRegistry)
		ref   func(f *fakeRegistry) string
		want  string
	}{
		{name: "blob not matching its digest", want: "error verifying sha256 checksum", setup: func(f *fakeRegistry) {
			b := bytes.Clone(f.blobs[f.layer])
			b[len(b)/2] ^= 1
			f.blobs[f.layer] = b
		}},
		{name: "config not matching its digest", want: "error verifying sha256 checksum", setup: func(f *fakeRegistry) {
			for d, b := range f.blobs {
				if d != f.layer {
					f.blobs[d] = bytes.Replace(b, []byte("amd64"), []byte("arm64"), 1)
				}
			}
		}},
		{name: "manifest not matching the digest asked", want: "does not match requested digest", setup: func(f *fakeRegistry) {
			d := f.mdigest
			f.setManifest(string(f.manifest) + " ")
			f.mdigest = d
		}, ref: func(f *fakeRegistry) string { return "busybox@" + f.mdigest }},
		{name: "redirect loop", args: []string{"--timeout=3s"}, want: "redirects", setup: func(f *fakeRegistry) {
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/blobs/") {
					http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
					return true
				}
				return false
			}
		}},
		// Only as many bytes as the manifest declares are read: a body that
		// goes on is cut there, and checked.
		{name: "never-ending blob", want: "error verifying sha256 checksum after reading 13", setup: func(f *fakeRegistry) {
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v2/busybox/blobs/"+f.layer {
					return false
				}
				chunk := make([]byte, 64<<10)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						break
					}
				}
				return true
			}
		}},
		{name: "never-ending manifest", want: "manifest over", setup: func(f *fakeRegistry) {
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Write([]byte(`{"schemaVersion":2,"x":"`))
				chunk := bytes.Repeat([]byte("a"), 64<<10)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						break
					}
				}
				return true
			}
		}},
		{name: "manifest under-declaring a layer's size", want: "error verifying sha256 checksum after reading 100 bytes", setup: func(f *fakeRegistry) {
			f.setManifest(strings.Replace(string(f.manifest), fmt.Sprintf(`"size":%d}]`, len(f.blobs[f.layer])), `"size":100}]`, 1))
		}},
		{name: "manifest over-declaring a layer's size", want: "size", setup: func(f *fakeRegistry) {
			f.setManifest(strings.Replace(string(f.manifest), fmt.Sprintf(`"size":%d}]`, len(f.blobs[f.layer])), `"size":1000000}]`, 1))
		}},
		{name: "stalled blob", args: []string{"--timeout=1s"}, want: "no data for 1s", setup: func(f *fakeRegistry) {
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v2/busybox/blobs/"+f.layer {
					return false
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(f.blobs[f.layer])))
				w.Write(f.blobs[f.layer][:10])
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return true
			}
		}},
		{name: "image over the size limit", args: []string{"--max-image-size=4K"}, want: "--max-image-size"},
		{name: "missing tag", want: "MANIFEST_UNKNOWN", ref: func(*fakeRegistry) string { return "busybox:2" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeRegistry(t)
			if c.setup != nil {
				c.setup(f)
			}
			ref := "busybox:1"
			if c.ref != nil {
				ref = c.ref(f)
			}
			dir := filepath.Join(t.TempDir(), "img")
			start := time.Now()
			args := append(append([]string{"--insecure-options=http"}, c.args...), "docker://"+f.host()+"/"+ref, dir)
			code, _, stderr := runPull(t, args...)
			checkRefused(t, code, stderr, c.want, dir)
			t.Log(strings.TrimSpace(stderr))
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("refusing took %s", d)
			}
		})
	}
}
