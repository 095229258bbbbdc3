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
	// owners gives files and folders of files an owner (uid = gid).
	owners map[string]int
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
		id := im.owners[strings.TrimPrefix(d, "rootfs/")]
		add(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir, Uid: id, Gid: id}, nil)
	}
	add(&tar.Header{Name: "rootfs/bin/busybox", Mode: 0o755, Typeflag: tar.TypeReg}, bb)
	for _, a := range busyboxApplets {
		add(&tar.Header{Name: "rootfs/bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	for _, a := range []string{"chown", "chmod", "stat", "tee"} {
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
		add(&tar.Header{Name: "rootfs/" + p, Mode: mode, Typeflag: tar.TypeReg, Uid: im.owners[p], Gid: im.owners[p]}, []byte(im.files[p]))
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
// the app's status says why. The post-stop handler cleans up after the
// attempt, as systemd's ExecStopPost does.
func TestEventHandlerPreStartFails(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		aceImage{name: "example.com/prestart-fails", app: `{"exec":["/bin/sh","-c","echo app ran | tee -a /vol/log"],"user":"0","group":"0",
"eventHandlers":[` + handlerJSON("pre-start", "exit 7") + `,` + handlerJSON("post-stop", "echo post-stop >> /vol/log") + `]}`}.fetch(t, e)
		vol := t.TempDir()
		r := e.podctl("run", "--volume", "vol,kind=host,source="+vol, "example.com/prestart-fails", "--mount", "volume=vol,target=/vol")
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
		if b, err := os.ReadFile(filepath.Join(vol, "log")); err != nil || string(b) != "post-stop\n" {
			t.Fatalf("want the post-stop's line only; the volume holds %q (%v)", b, err)
		}
		pods := e.list()
		if len(pods) != 1 {
			t.Fatalf("want one pod, have %v", pods)
		}
		st := e.status(pods[0].UUID)
		if st.Result == nil || st.Result.Message != "app prestart-fails did not start: "+want || len(st.Apps) != 1 ||
			st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 254 {
			t.Fatalf("want the pod's result and its app's status to say %q: %+v", want, st)
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

// An image's mount points are mounted without --mount: a pod volume of a
// mount point's name reaches it; one with no volume gets an implicit empty
// volume holding the image's files at its path, which is the pod's (a
// folder of the pod's, not the image's tree), or nothing where the image
// has no folder; readOnly ones are
// read-only, whether the user's volume or an implicit one fills them.
func TestImageMountPoints(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		script := `cat /conf/seed /roimg/file; echo written > /vol/out; echo mine > /conf/new
echo s > /scratch/f && echo scratch-ok
for d in ro roimg; do if touch /$d/x 2>/dev/null; then echo $d-writable; else echo $d-refused; fi; done`
		b, _ := json.Marshal([]string{"/bin/sh", "-c", script})
		aceImage{name: "example.com/mountpoints", app: `{"exec":` + string(b) + `,"user":"0","group":"0","mountPoints":[
{"name":"vol","path":"/vol"},{"name":"conf","path":"/conf"},
{"name":"ro","path":"/ro","readOnly":true},{"name":"scratch","path":"/scratch"},{"name":"roimg","path":"/roimg","readOnly":true}]}`,
			files: map[string]string{"conf/seed": "from-image\n", "roimg/file": "ro-data\n", "vol/hidden": "image's\n"}}.fetch(t, e)
		vol, ro := t.TempDir(), t.TempDir()
		r := e.podctl("run", "--volume", "vol,kind=host,source="+vol, "--volume", "ro,kind=host,source="+ro, "example.com/mountpoints")
		if want := "from-image\nro-data\nscratch-ok\nro-refused\nroimg-refused\n"; r.code != 0 || r.stdout != want {
			t.Fatalf("want %q: %s", want, r)
		}
		if b, err := os.ReadFile(filepath.Join(vol, "out")); err != nil || string(b) != "written\n" {
			t.Fatalf("the volume named for /vol did not reach it: out holds %q (%v)", b, err)
		}
		if _, err := os.Stat(filepath.Join(vol, "hidden")); err == nil {
			t.Fatalf("the image's files were copied into a host volume")
		}
		if names, _ := os.ReadDir(ro); len(names) != 0 {
			t.Fatalf("the read-only mount point's host volume was written: %v", names)
		}
		got, _ := filepath.Glob(filepath.Join(e.dir, "pods", "*", "*", "volumes", "conf", "new"))
		if len(got) != 1 {
			t.Fatalf("the app's write to /conf is not in the pod's implicit volume: %v", got)
		}
		seed, err := os.ReadFile(filepath.Join(filepath.Dir(got[0]), "seed"))
		if err != nil || string(seed) != "from-image\n" {
			t.Fatalf("the implicit volume does not hold the image's file: %q (%v)", seed, err)
		}
	})
}

// An image's isolator podctl does not apply is named in exactly one
// warning line when the pod is prepared, with the other fields it
// ignores; an image with none gets no warning.
func TestUnappliedWarning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	aceImage{name: "example.com/unapplied", app: `{"exec":["/bin/true"],"user":"0","group":"0",
"isolators":[{"name":"os/linux/cpu-shares","value":512},{"name":"resource/memory","value":{"limit":"64Mi"}}],
"ports":[{"name":"www","protocol":"tcp","port":80,"socketActivated":true}]}`}.fetch(t, e)
	r := e.podctl("prepare", "example.com/unapplied")
	if r.code != 0 {
		t.Fatalf("prepare: %s", r)
	}
	var warnings []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if strings.Contains(l, "warning") {
			warnings = append(warnings, l)
		}
	}
	// Socket-activated ports are passed to the app (TestSocketActivation).
	if len(warnings) != 1 || !strings.Contains(warnings[0], "isolator os/linux/cpu-shares") ||
		strings.Contains(warnings[0], "socketActivated") || strings.Contains(warnings[0], "resource/memory") {
		t.Fatalf("want one warning line naming os/linux/cpu-shares, not resource/memory or the socket-activated port: %s", r)
	}
	e.fetchBusybox()
	if r := e.podctl("prepare", "example.com/busybox"); r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("want no warning for an image podctl applies whole: %s", r)
	}
}

// A handler runs as root but confined as the app is on the isolated
// flavors: no_new_privs, the seccomp filter and the app's capabilities,
// never more.
func TestEventHandlerConfined(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		aceImage{name: "example.com/handler-confined", app: `{"exec":["/bin/cat","/tmp/status"],"user":"1000","group":"1000",
"eventHandlers":[` + handlerJSON("pre-start", `grep -E '^(NoNewPrivs|Seccomp|CapBnd):' /proc/self/status > /tmp/status; chmod 644 /tmp/status`) + `]}`}.fetch(t, e)
		r := e.podctl("run", "example.com/handler-confined")
		// The 14 default capabilities of container engines.
		want := "CapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n"
		if r.code != 0 || r.stdout != want {
			t.Fatalf("want the handler confined as an app (%q): %s", want, r)
		}
	})
}

// The handlers run around each run of a restarted app: pre-start before
// each start, post-stop after each end.
func TestEventHandlersRestart(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		aceImage{name: "example.com/handlers-restart", app: `{"exec":["/bin/sh","-c","echo app >> /vol/log; exit 1"],"user":"0","group":"0",
"eventHandlers":[` + handlerJSON("pre-start", "echo pre >> /vol/log") + `,` + handlerJSON("post-stop", "echo post >> /vol/log") + `]}`}.fetch(t, e)
		vol := t.TempDir()
		r := e.podctl("run", "--restart=on-failure:1", "--restart-backoff=100ms", "--volume", "vol,kind=host,source="+vol,
			"example.com/handlers-restart", "--mount", "volume=vol,target=/vol")
		if r.code != 1 {
			t.Fatalf("want the app's exit code 1: %s", r)
		}
		if b, err := os.ReadFile(filepath.Join(vol, "log")); err != nil || string(b) != "pre\napp\npost\npre\napp\npost\n" {
			t.Fatalf("want the handlers around both runs; the volume holds %q (%v)", b, err)
		}
	})
}

// A pod stopped while a pre-start handler runs ends at once, well before
// the handler's time limit, and its app never starts.
func TestEventHandlerStopDuringPreStart(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		aceImage{name: "example.com/prestart-hangs", app: `{"exec":["/bin/sh","-c","echo app >> /vol/log"],"user":"0","group":"0",
"eventHandlers":[` + handlerJSON("pre-start", "echo pre >> /vol/log; exec sleep 600") + `]}`}.fetch(t, e)
		vol := t.TempDir()
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		cmd := e.command("run", "--uuid-file-save", uuidFile, "--volume", "vol,kind=host,source="+vol,
			"example.com/prestart-hangs", "--mount", "volume=vol,target=/vol")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		uuid := waitUUIDFile(t, uuidFile)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if b, _ := os.ReadFile(filepath.Join(vol, "log")); string(b) == "pre\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the pre-start handler did not run within 30 s")
			}
		}
		e.must("stop", uuid)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("stop did not end a pod whose pre-start handler runs")
		}
		if b, _ := os.ReadFile(filepath.Join(vol, "log")); string(b) != "pre\n" {
			t.Fatalf("the app ran after its pod was stopped: %q", b)
		}
		// Ended by the stop itself (SIGTERM), not by its escalation to
		// SIGKILL once the apps' grace is over.
		st := e.status(uuid)
		if st.State != "exited" || st.Result == nil || st.Result.Result != "cancelled" || cmd.ProcessState.ExitCode() != 143 {
			t.Fatalf("want the pod cancelled by SIGTERM, exit 143; it is %s, %+v, exit %d", st.State, st.Result, cmd.ProcessState.ExitCode())
		}
	})
}

// An image whose handler has no command, or whose mount point is stage1's
// or not absolute, is refused in one line before a pod exists.
func TestImageAppRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ name, app, want string }{
		{"example.com/no-command", `{"exec":["/bin/true"],"user":"0","group":"0","eventHandlers":[{"name":"pre-start","exec":[]}]}`,
			"image example.com/no-command: its pre-start event handler has no command (exec): fix the image"},
		{"example.com/proc-mount", `{"exec":["/bin/true"],"user":"0","group":"0","mountPoints":[{"name":"p","path":"/proc/x"}]}`,
			"image example.com/proc-mount: mount point p: /proc/x is stage1's"},
		{"example.com/rel-mount", `{"exec":["/bin/true"],"user":"0","group":"0","mountPoints":[{"name":"r","path":"data"}]}`,
			"image example.com/rel-mount: mount point r is at \"data\", not an absolute path"},
	} {
		aceImage{name: c.name, app: c.app}.fetch(t, e)
		e.refused(c.want, "run", c.name)
		e.noPods()
	}
}

// A pod with private users sees the image's files in an implicit volume
// with the image's owners, whether its trees are idmapped or chowned
// copies (which the copy into the volume maps back).
func TestImageMountPointsPrivateUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	aceImage{name: "example.com/mountpoint-owners", app: `{"exec":["/bin/sh","-c","stat -c '%u:%g %n' /data /data/f"],"user":"0","group":"0",
"mountPoints":[{"name":"data","path":"/data"}]}`,
		files: map[string]string{"data/f": "x"}, owners: map[string]int{"data": 1000, "data/f": 1000}}.fetch(t, e)
	for _, ownership := range []string{"map", "chown"} {
		r := e.podctl("run", "--net=none", "--private-users", "--private-users-ownership="+ownership, "example.com/mountpoint-owners")
		if want := "1000:1000 /data\n1000:1000 /data/f\n"; r.code != 0 || r.stdout != want {
			t.Fatalf("--private-users-ownership=%s: want %q: %s", ownership, want, r)
		}
	}
}
