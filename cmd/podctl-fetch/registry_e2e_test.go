package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests pull from Debian's docker-registry (the distribution
// registry), started on 127.0.0.1 by the test, into which skopeo pushed a
// busybox image built with umoci. build.sh installs the three; a machine
// without them fails here, saying what to install.

// needTools fails the test unless the programs are installed.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("%s is not installed: apt-get install -y docker-registry skopeo umoci openssl (./build.sh does)", n)
		}
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// freePort is a port on 127.0.0.1 that nothing listens on just now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testRegistry is a docker-registry process on 127.0.0.1.
type testRegistry struct {
	host string // 127.0.0.1:PORT
	tls  bool
}

// startRegistry runs docker-registry on 127.0.0.1 and a free port with
// its storage in a temporary folder, over HTTPS with a certificate made
// for 127.0.0.1 if tls, and stops it when the test ends.
func startRegistry(t *testing.T, tls bool) *testRegistry {
	t.Helper()
	needTools(t, "docker-registry", "openssl")
	dir := t.TempDir()
	r := &testRegistry{host: fmt.Sprintf("127.0.0.1:%d", freePort(t)), tls: tls}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), r.host)
	if tls {
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		runTool(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
			"-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert)
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = log, log
	// The registry reads REGISTRY_* variables as settings
	// (REGISTRY_AUTH_FILE would be an "auth: file" section).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
	// Up once it answers /v2/ (with any status).
	scheme := "http"
	if tls {
		scheme = "https"
	}
	client := &http.Client{Timeout: time.Second, Transport: insecureTransport()}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(scheme + "://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("docker-registry on %s did not answer: %v\n%s", r.host, err, out)
		}
	}
}

func insecureTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.InsecureSkipVerify = true
	tr.Proxy = nil
	return tr
}

// pushBusybox builds a busybox image with umoci (busybox-static's
// /bin/busybox in one layer) and pushes it to r as busybox:1.
func (r *testRegistry) pushBusybox(t *testing.T) {
	t.Helper()
	needTools(t, "umoci", "skopeo")
	oci := filepath.Join(t.TempDir(), "oci")
	runTool(t, "umoci", "init", "--layout", oci)
	runTool(t, "umoci", "new", "--image", oci+":1")
	runTool(t, "umoci", "insert", "--image", oci+":1", "/bin/busybox", "/bin/busybox")
	runTool(t, "umoci", "config", "--image", oci+":1", "--config.entrypoint", "/bin/busybox", "--config.cmd", "sh")
	runTool(t, "skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false", "oci:"+oci+":1", "docker://"+r.host+"/busybox:1")
}

// digest asks skopeo for the digest of busybox:1 in r.
func (r *testRegistry) digest(t *testing.T) string {
	out := runTool(t, "skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+r.host+"/busybox:1")
	return strings.TrimSpace(out)
}

func TestPullDockerRegistry(t *testing.T) {
	isolate(t)
	r := startRegistry(t, false)
	r.pushBusybox(t)
	want := r.digest(t)

	byTag := filepath.Join(t.TempDir(), "busybox")
	code, out, stderr := runPull(t, "--insecure-options=http", "docker://"+r.host+"/busybox:1", byTag)
	if code != 0 {
		t.Fatalf("pull by tag: %s", stderr)
	}
	if strings.TrimSpace(out) != want {
		t.Errorf("pull by tag printed %q, want %s", out, want)
	}
	checkLayout(t, byTag, want)
	// umoci reads it too.
	if got := runTool(t, "umoci", "ls", "--layout", byTag); strings.TrimSpace(got) != "1" {
		t.Errorf("umoci ls: %q, want the tag 1", got)
	}

	byDigest := filepath.Join(t.TempDir(), "busybox")
	code, out, stderr = runPull(t, "--quiet", "--insecure-options=http", "docker://"+r.host+"/busybox@"+want, byDigest)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull by digest: %d %q %s", code, out, stderr)
	}
	checkLayout(t, byDigest, want)

	missing := filepath.Join(t.TempDir(), "busybox")
	code, _, stderr = runPull(t, "--insecure-options=http", "docker://"+r.host+"/busybox:2", missing)
	checkRefused(t, code, stderr, "MANIFEST_UNKNOWN", missing)

	// Plain HTTP only when asked for.
	plain := filepath.Join(t.TempDir(), "busybox")
	code, _, stderr = runPull(t, "docker://"+r.host+"/busybox:1", plain)
	checkRefused(t, code, stderr, "--insecure-options=http", plain)

	// A mirror in the data directory serves a registry that does not exist.
	data := os.Getenv("PODCTL_DIR")
	cfg := fmt.Sprintf(`{"mirrors":{"registry.invalid":[%q]}}`, r.host)
	if err := os.WriteFile(filepath.Join(data, mirrorsFile), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	mirrored := filepath.Join(t.TempDir(), "busybox")
	code, out, stderr = runPull(t, "--quiet", "--insecure-options=http", "docker://registry.invalid/busybox:1", mirrored)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull through a mirror: %d %q %s", code, out, stderr)
	}
}

func TestPullDockerRegistryTLS(t *testing.T) {
	isolate(t)
	r := startRegistry(t, true)
	r.pushBusybox(t)
	want := r.digest(t)

	refused := filepath.Join(t.TempDir(), "busybox")
	code, _, stderr := runPull(t, "docker://"+r.host+"/busybox:1", refused)
	checkRefused(t, code, stderr, "--insecure-options=tls", refused)

	dir := filepath.Join(t.TempDir(), "busybox")
	code, out, stderr := runPull(t, "--quiet", "--insecure-options=tls", "docker://"+r.host+"/busybox:1", dir)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull with --insecure-options=tls: %d %q %s", code, out, stderr)
	}
	checkLayout(t, dir, want)

	// http,tls on an HTTPS registry still speaks HTTPS.
	both := filepath.Join(t.TempDir(), "busybox")
	code, out, stderr = runPull(t, "--quiet", "--insecure-options=http,tls", "docker://"+r.host+"/busybox:1", both)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull with --insecure-options=http,tls: %d %q %s", code, out, stderr)
	}
}
