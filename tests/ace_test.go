package tests

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The App Container executor's duties beyond running the command: the
// image's event handlers, its mount points, and a word for every field
// podctl does not apply.

// aceImage is a test image: busybox with the given app (a JSON object) and
// extra files (path under the root -> content; those in bin/ executable),
// whose folders are made.
type aceImage struct {
	name  string
	app   string
	files map[string]string
}

// write writes the image as an ACI in a folder of the test's and imports
// it into e.
func (im aceImage) fetch(t *testing.T, e *env) {
	t.Helper()
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":%q,
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],"app":%s}`, im.name, im.app)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	add := func(h *tar.Header, data []byte) {
		h.ModTime = mtime
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "manifest", Mode: 0o644, Typeflag: tar.TypeReg}, []byte(manifest))
	dirs := map[string]bool{"rootfs": true}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "root", "tmp"} {
		dirs["rootfs/"+d] = true
	}
	for p := range im.files {
		for d := filepath.Dir("rootfs/" + p); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		add(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}, nil)
	}
	add(&tar.Header{Name: "rootfs/bin/busybox", Mode: 0o755, Typeflag: tar.TypeReg}, bb)
	for _, a := range busyboxApplets {
		add(&tar.Header{Name: "rootfs/bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	for _, a := range []string{"chown", "chmod", "stat"} {
		add(&tar.Header{Name: "rootfs/bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	add(&tar.Header{Name: "rootfs/etc/passwd", Mode: 0o644, Typeflag: tar.TypeReg},
		[]byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/:/bin/sh\n"))
	add(&tar.Header{Name: "rootfs/etc/group", Mode: 0o644, Typeflag: tar.TypeReg}, []byte("root:x:0:\nuser:x:1000:\n"))
	for _, p := range slices.Sorted(maps.Keys(im.files)) {
		mode := int64(0o644)
		if strings.HasPrefix(p, "bin/") {
			mode = 0o755
		}
		add(&tar.Header{Name: "rootfs/" + p, Mode: mode, Typeflag: tar.TypeReg}, []byte(im.files[p]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "image.aci")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("fetch", "--insecure-options=image", path)
}

// handlerJSON is an eventHandlers entry running a shell line.
func handlerJSON(name, line string) string {
	b, _ := json.Marshal(map[string]any{"name": name, "exec": []string{"/bin/sh", "-c", line}})
	return string(b)
}

// A pre-start handler runs as root in the app's root, with its
// environment, before a uid-1000 app: it makes a file only root could
// make and that only uid 1000 may read, which the app then reads.
func TestEventHandlerPreStart(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		aceImage{name: "example.com/prestart", app: `{"exec":["/bin/sh","-c","cat /data/prep"],"user":"1000","group":"1000",
"environment":[{"name":"GREETING","value":"hello"}],
"eventHandlers":[` + handlerJSON("pre-start", `echo "$GREETING from $(id -u) in $(pwd)" > /data/prep && chown 1000:1000 /data/prep && chmod 400 /data/prep`) + `]}`,
			files: map[string]string{"data/.keep": ""}}.fetch(t, e)
		r := e.podctl("run", "example.com/prestart")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "hello from 0 in /" {
			t.Fatalf("want the app to print what its pre-start wrote as root: %s", r)
		}
	})
}

// A pre-start handler that fails keeps the app from starting: podctl run
// says so in one line, exits 254 as for any app that did not start, and
// the app's status says why.
func TestEventHandlerPreStartFails(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		aceImage{name: "example.com/prestart-fails", app: `{"exec":["/bin/sh","-c","echo app ran"],"user":"0","group":"0",
"eventHandlers":[` + handlerJSON("pre-start", "exit 7") + `]}`}.fetch(t, e)
		r := e.podctl("run", "example.com/prestart-fails")
		want := "app prestart-fails: pre-start handler exited with 7"
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if strings.Contains(l, "pre-start") {
				lines = append(lines, l)
			}
		}
		if r.code != 254 || len(lines) != 1 || !strings.Contains(lines[0], want) || strings.Contains(r.stdout, "app ran") {
			t.Fatalf("want exit 254, no app output and one line saying %q: %s", want, r)
		}
		pods := e.list()
		if len(pods) != 1 {
			t.Fatalf("want one pod, have %v", pods)
		}
		st := e.must("status", "--format=json", pods[0].UUID)
		if !strings.Contains(st, want) {
			t.Fatalf("the pod's status does not say %q: %s", want, st)
		}
	})
}

// A post-stop handler runs after the app has ended, as root: what it
// writes to a volume comes after what the app wrote.
func TestEventHandlerPostStop(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		aceImage{name: "example.com/poststop", app: `{"exec":["/bin/sh","-c","echo app $(id -u) >> /vol/log"],"user":"1000","group":"1000",
"eventHandlers":[` + handlerJSON("post-stop", `echo post-stop $(id -u) >> /vol/log`) + `]}`}.fetch(t, e)
		vol := t.TempDir()
		if err := os.Chmod(vol, 0o777); err != nil {
			t.Fatal(err)
		}
		e.must("run", "--volume", "vol,kind=host,source="+vol, "example.com/poststop", "--mount", "volume=vol,target=/vol")
		b, err := os.ReadFile(filepath.Join(vol, "log"))
		if err != nil || string(b) != "app 1000\npost-stop 0\n" {
			t.Fatalf("want the app's line, then the post-stop's as root; the volume holds %q (%v)", b, err)
		}
	})
}
