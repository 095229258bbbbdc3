package tests

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mdsScript is the app of TestMDSIdentity: it asks the metadata service
// for its pod's UUID and its image's ID, signs and verifies, and tries a
// forged signature and a wrong token, printing what it got, one line
// each. The URL itself goes to /out, not to the log.
const mdsScript = `
u=$AC_METADATA_URL/acMetadata/v1
echo "$AC_METADATA_URL" >/out/url
enc() { busybox sed -e 's/+/%2B/g' -e 's/\//%2F/g' -e 's/=/%3D/g'; }
uuid=$(busybox wget -q -O - "$u/pod/uuid") || echo "uuid failed"
echo "uuid=$uuid"
echo "image=$(busybox wget -q -O - "$u/apps/$AC_APP_NAME/image/id")"
sig=$(busybox wget -q -O - --post-data "content=hello%20world" "$u/pod/hmac/sign") || echo "sign failed"
esig=$(echo -n "$sig" | enc)
if busybox wget -q -O /dev/null --post-data "content=hello%20world&uuid=$uuid&signature=$esig" "$u/pod/hmac/verify"; then echo verified; fi
if ! busybox wget -q -O /dev/null --post-data "content=hello%20World&uuid=$uuid&signature=$esig" "$u/pod/hmac/verify" 2>/dev/null; then echo "forgery refused"; fi
base=${AC_METADATA_URL%/*}
if ! busybox wget -q -O - "$base/0123456789abcdef0123456789abcdef/acMetadata/v1/pod/uuid" 2>/dev/null; then echo "wrong token refused"; fi
if ! busybox wget -q -O - "$base/acMetadata/v1/pod/uuid" 2>/dev/null; then echo "no token refused"; fi
`

// An app of a --mds-register pod reads its pod's UUID and its image's ID
// from the metadata service at $AC_METADATA_URL, signs and verifies with
// its pod's key, and is refused with a forged signature or a wrong token.
// The URL, which holds the token, is written to no file of the pod.
func TestMDSIdentity(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		id := e.fetchBusybox()
		out := t.TempDir()
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		r := e.podctl("run", "--uuid-file-save", uuidFile, "--net=none", "--mds-register",
			"--volume", "out,kind=host,source="+out,
			"example.com/busybox", "--mount", "volume=out,target=/out", "--exec", "/bin/sh", "--", "-c", mdsScript)
		if r.code != 0 {
			t.Fatalf("the pod failed: %s", r)
		}
		uuid, err := os.ReadFile(uuidFile)
		if err != nil {
			t.Fatal(err)
		}
		log := e.must("logs", string(uuid))
		for _, want := range []string{"uuid=" + string(uuid) + "\n", "image=" + id + "\n", "verified\n", "forgery refused\n", "wrong token refused\n", "no token refused\n"} {
			if !strings.Contains(log, want) {
				t.Errorf("the app did not print %q:\n%s", want, log)
			}
		}
		if strings.Contains(log, "failed") {
			t.Errorf("a request of the app failed:\n%s", log)
		}
		b, err := os.ReadFile(filepath.Join(out, "url"))
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		token := strings.TrimPrefix(u.Path, "/")
		if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || len(token) < 32 {
			t.Fatalf("AC_METADATA_URL is %q: want http://127.0.0.1:PORT/TOKEN with a token of 128 bits or more", b)
		}
		if f := fileHolding(t, e.dir, token); f != "" {
			t.Errorf("the token is written in %s", f)
		}
		// A prepared pod keeps the flag for run-prepared.
		prepared := strings.TrimSpace(e.must("prepare", "--quiet", "--net=none", "--mds-register", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
			`busybox wget -q -O - "$AC_METADATA_URL/acMetadata/v1/pod/uuid"`))
		if r := e.podctl("run-prepared", prepared); r.code != 0 || !strings.Contains(r.stdout, prepared) {
			t.Errorf("run-prepared of a --mds-register pod: %s", r)
		}
		// Without --mds-register there is no service and no URL.
		r = e.podctl("run", "--net=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", `echo "url=[$AC_METADATA_URL]"`)
		if r.code != 0 || !strings.Contains(r.stdout, "url=[]") {
			t.Errorf("a pod without --mds-register: %s", r)
		}
	})
}

// fileHolding is the first file under dir whose content holds s, but for
// the apps' own roots, which the apps write.
func fileHolding(t *testing.T, dir, s string) string {
	t.Helper()
	found := ""
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return nil
		}
		if d.IsDir() && (d.Name() == "rootfs" || d.Name() == "upper" || d.Name() == "images") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
			found = p
		}
		return nil
	})
	return found
}

// The metadata service of a pod answers on its own loopback only:
// another pod, on the same network, reaches neither its address nor its
// own 127.0.0.1 at that port, nor does the host, though the other pod
// reaches the first one's other ports.
func TestMDSOtherPodCannotReach(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		out := t.TempDir()
		cmdA, a := startNetPod(t, e, "--mds-register", "--volume", "out,kind=host,source="+out,
			"example.com/busybox", "--mount", "volume=out,target=/out", "--exec", "/bin/sh", "--", "-c",
			`echo "$AC_METADATA_URL" >/out/url.tmp && mv /out/url.tmp /out/url
busybox wget -q -O /out/uuid.tmp "$AC_METADATA_URL/acMetadata/v1/pod/uuid" && mv /out/uuid.tmp /out/uuid
exec busybox nc -ll -p 8090 -e /bin/echo alive`)
		// The pod itself reaches its service.
		got := waitFile(t, filepath.Join(out, "uuid"))
		if got != a {
			t.Fatalf("pod %s read UUID %q from its metadata service", a, got)
		}
		u, err := url.Parse(strings.TrimSpace(waitFile(t, filepath.Join(out, "url"))))
		if err != nil {
			t.Fatal(err)
		}
		port := u.Port()
		helper := checkMDSHelper(t, cmdA.Process.Pid)
		ipA, _ := podAddress(t, e, a)
		_, b := startNetPod(t, e, "example.com/busybox", "--exec", "/bin/sleep", "--", "600")
		// b reaches a...
		if r := e.enterUntilOutput(b, "/bin/busybox", "nc", "-w", "5", ipA, "8090"); !strings.Contains(r.stdout, "alive") {
			t.Fatalf("pod b did not reach pod a at %s: %s", ipA, r)
		}
		// ...but not its metadata service: no connection, with the same
		// tool.
		req := "GET " + u.Path + "/acMetadata/v1/pod/uuid HTTP/1.0\r\n\r\n"
		for _, host := range []string{ipA, "127.0.0.1"} {
			r := e.podctlIn(req, "enter", b, "/bin/busybox", "nc", "-w", "5", host, port)
			if r.code == 0 || strings.TrimSpace(r.stdout) != "" {
				t.Errorf("pod b connected to pod a's metadata service at %s:%s: %s", host, port, r)
			}
		}
		// Nor does the host.
		c := &http.Client{Timeout: 5 * time.Second}
		for _, host := range []string{ipA, "127.0.0.1"} {
			resp, err := c.Get("http://" + net.JoinHostPort(host, port) + u.Path + "/acMetadata/v1/pod/uuid")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(body), a) {
					t.Errorf("the host reached pod a's metadata service on %s", host)
				}
			}
		}
		// The service ends with the pod's stage1, even killed.
		cmdA.Process.Kill()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", helper))
			if err != nil || strings.Contains(string(b), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the metadata service (pid %d) outlived its pod's stage1 by 60 s", helper)
			}
		}
	})
}

// checkMDSHelper checks that the metadata service of the pod whose
// stage1 is pid runs as nobody, without capabilities or a way to gain
// any.
func checkMDSHelper(t *testing.T, stage1 int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	found, pid := 0, 0
	for _, d := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		if err != nil || !strings.Contains(string(b), "\nPPid:\t"+strconv.Itoa(stage1)+"\n") || !strings.HasPrefix(string(b), "Name:\tpodctl-mds\n") {
			continue
		}
		found++
		pid, _ = strconv.Atoi(d.Name())
		for _, want := range []string{"\nUid:\t65534\t65534\t65534\t65534\n", "\nGid:\t65534\t65534\t65534\t65534\n", "\nGroups:\t \n", "\nCapEff:\t0000000000000000\n", "\nCapPrm:\t0000000000000000\n", "\nNoNewPrivs:\t1\n"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("the metadata service (pid %s) has no %q:\n%s", d.Name(), strings.TrimSpace(want), b)
			}
		}
	}
	if found != 1 {
		t.Fatalf("stage1 (pid %d) has %d metadata services, want 1", stage1, found)
	}
	return pid
}

// waitFile waits for a file an app writes (renamed into place whole).
func waitFile(t *testing.T, path string) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 60 s", path)
		}
	}
}

// --mds-register needs a network namespace of the pod's own: refused
// with --net=host and with fly, before any pod exists.
func TestMDSRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	e.refused("--net=host gives the pod none", "run", "--mds-register", "--net=host", "example.com/busybox", "--exec", "/bin/true")
	e.refused("--net=host gives the pod none", "prepare", "--mds-register", "--net=host", "example.com/busybox", "--exec", "/bin/true")
	e.refused("fly pods have the host's", "run", "--stage1=fly", "--mds-register", "example.com/busybox", "--exec", "/bin/true")
	e.noPods()
}

// An ordinary user's pod (--net=none by default) has the metadata
// service too: stage1 makes its socket in the pod's namespace, though it
// may not go back to its own. Ten pods: the thread that made the socket
// once ended, and killed the pod's init with it when that thread had
// forked the init (its parent-death signal), about one start in two.
func TestMDSRootless(t *testing.T) {
	t.Parallel()
	bin := rootlessBin(t)
	if err := copyMode(filepath.Join(filepath.Dir(podctlBin), "podctl-mds"), filepath.Join(bin, "podctl-mds"), 0o755); err != nil {
		t.Fatal(err)
	}
	u := newRootlessUser(t, 0, bin)
	u.must("fetch", "--insecure-options=image", filepath.Join(bin, "busybox.aci"))
	for i := 0; i < 10; i++ {
		r := u.podctl("run", "--mds-register", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
			`busybox wget -q -O - "$AC_METADATA_URL/acMetadata/v1/pod/uuid"`)
		if r.code != 0 || len(strings.TrimSpace(r.stdout)) != 36 {
			t.Fatalf("pod %d: a rootless pod's app did not read its UUID from the metadata service: %s", i, r)
		}
	}
}
