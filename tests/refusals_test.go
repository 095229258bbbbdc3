package tests

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Input that can never work is refused before anything exists: one line
// saying what is wrong and what to do, exit 254, no pod and (for images)
// nothing in the store. Input checks do not depend on the flavor: fly.

// refused runs podctl and checks it refused in one line containing want.
func (e *env) refused(want string, args ...string) {
	e.t.Helper()
	r := e.podctl(args...)
	checkNoPanic(e.t, args[0], r)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 254 || len(lines) != 1 || !strings.HasPrefix(lines[0], "podctl: ") || !strings.Contains(lines[0], want) {
		e.t.Fatalf("podctl %s: want exit 254 and one line saying %q: %s", strings.Join(args, " "), want, r)
	}
}

// noPods fails the test if a pod folder exists.
func (e *env) noPods() {
	e.t.Helper()
	if dirs := e.podDirs(); len(dirs) != 0 {
		e.t.Fatalf("a refused command left pods %v", dirs)
	}
}

// storeEmpty fails the test unless the store has no image, blob or tree.
func (e *env) storeEmpty() {
	e.t.Helper()
	if out := strings.TrimSpace(e.must("image", "list", "--format=json")); out != "[]" {
		e.t.Fatalf("the store lists %s after a refused import", out)
	}
	for _, d := range []string{"blobs/*/*", "tmp/*", "trees/*"} {
		if left, _ := filepath.Glob(filepath.Join(e.dir, "images", d)); len(left) != 0 {
			e.t.Fatalf("a refused import left %v in the store", left)
		}
	}
}

// writeEntriesACI writes an ACI of manifest, rootfs/ and entries (paths
// relative to rootfs/; regular files unless the header says otherwise).
func writeEntriesACI(t *testing.T, path, manifest string, entries ...tar.Header) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	write := func(h tar.Header, body string) {
		h.ModTime = mtime
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	write(tar.Header{Name: "manifest", Typeflag: tar.TypeReg}, manifest)
	write(tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	for _, h := range entries {
		h.Name = "rootfs/" + h.Name
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		write(h, "")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func imageManifest(name, labels, exec string) string {
	return `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"` + name + `","labels":[` + labels + `],` +
		`"app":{"exec":["` + exec + `"],"user":"0","group":"0"}}`
}

// An image labelled for another OS or architecture may be fetched, but
// prepare and run refuse it, naming the label and what this host is.
func TestRefuseForeignPlatform(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ what, labels, want string }{
		{"freebsd", `{"name":"os","value":"freebsd"},{"name":"arch","value":"amd64"}`, "labelled os=freebsd, but this host runs linux"},
		{"armv7l", `{"name":"os","value":"linux"},{"name":"arch","value":"armv7l"}`, "labelled arch=armv7l, but this host is amd64"},
	} {
		t.Run(c.what, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.flavor = "fly"
			aci := filepath.Join(t.TempDir(), "foreign.aci")
			writeEntriesACI(t, aci, imageManifest("example.com/"+c.what, c.labels, "/bin/sh"))
			e.must("fetch", "--insecure-options=image", aci)
			e.refused(c.want, "prepare", "example.com/"+c.what)
			e.refused(c.want, "run", "example.com/"+c.what)
			e.refused(c.want, "run", "--insecure-options=image", aci)
			e.noPods()
		})
	}
	// No label means any: the busybox image without os and arch runs.
	t.Run("unlabelled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.flavor = "fly"
		aci := filepath.Join(t.TempDir(), "any.aci")
		writeEntriesACI(t, aci, imageManifest("example.com/any", "", "/bin/sh"))
		e.must("fetch", "--insecure-options=image", aci)
		uuid := lastLine(e.must("prepare", "example.com/any"))
		e.must("rm", uuid)
	})
}

// Flags whose values cannot work are refused before a pod exists.
func TestRefuseBadAppFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	img := "example.com/busybox"
	vol := "--volume=data,kind=empty"
	for _, c := range []struct {
		want string
		args []string
	}{
		{"give at least 6Mi", []string{img, "--memory=1"}},
		{"give at least 6Mi", []string{"--memory=5Mi", img}},
		{"give at least 10m", []string{img, "--cpu=1m"}},
		{"give at least 10m", []string{"--cpu=0.009", img}},
		{"already has a mount on /data", []string{vol, "--volume=more,kind=empty", img, "--mount=volume=data,target=/data", "--mount=volume=more,target=/data/"}},
		{"/proc is stage1's", []string{vol, img, "--mount=volume=data,target=/proc"}},
		{"/sys/kernel is stage1's", []string{vol, img, "--mount=volume=data,target=/sys/kernel"}},
		{"/dev/shm is stage1's", []string{vol, img, "--mount=volume=data,target=/dev/shm"}},
		{"give at least 1", []string{img, "--pids-limit=0"}},
		{"give at least 1", []string{"--pids-limit=0", img}},
	} {
		for _, cmd := range []string{"prepare", "run"} {
			e.refused(c.want, append([]string{cmd}, c.args...)...)
		}
	}
	e.noPods()
}

// gc with a negative duration is refused and removes nothing.
func TestRefuseNegativeGCDurations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	// An exited pod, which gc would mark, and a prepared one.
	e.must("run", "example.com/busybox", "--exec=/bin/true")
	prepared := lastLine(e.must("prepare", "example.com/busybox"))
	before := len(e.list())
	e.refused("--grace-period=-1s is negative", "gc", "--grace-period=-1s")
	e.refused("--expire-prepared=-1h0m0s is negative", "gc", "--expire-prepared=-1h")
	if after := len(e.list()); after != before {
		t.Fatalf("a refused gc changed the pods from %d to %d", before, after)
	}
	if st := e.status(prepared); st.State != "prepared" {
		t.Fatalf("prepared pod is %s after a refused gc", st.State)
	}
}

// An image the kernel or appc cannot run is refused at import, and one
// whose device nodes are left out says so once.
func TestRefuseUnrunnableImages(t *testing.T) {
	t.Parallel()
	linux := `{"name":"os","value":"linux"}`
	deep := strings.Repeat(strings.Repeat("d", 200)+"/", 21) + "f"
	for _, c := range []struct {
		what, manifest string
		entries        []tar.Header
		want           string
	}{
		{"relative exec", imageManifest("example.com/rel", linux, "sh"), nil, `app.exec starts with "sh", not an absolute path`},
		{"long name", imageManifest("example.com/long", linux, "/bin/sh"), []tar.Header{{Name: strings.Repeat("n", 256)}}, "name of 256 bytes, more than the kernel's 255"},
		{"long path", imageManifest("example.com/deep", linux, "/bin/sh"), []tar.Header{{Name: deep}}, "path of 4223 bytes, more than the kernel's 4095"},
	} {
		t.Run(strings.ReplaceAll(c.what, " ", "_"), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.flavor = "fly"
			aci := filepath.Join(t.TempDir(), "bad.aci")
			writeEntriesACI(t, aci, c.manifest, c.entries...)
			e.refused(c.want, "fetch", "--insecure-options=image", aci)
			e.refused(c.want, "run", "--insecure-options=image", aci)
			e.storeEmpty()
			e.noPods()
		})
	}
	t.Run("device nodes", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aci := filepath.Join(t.TempDir(), "dev.aci")
		writeEntriesACI(t, aci, imageManifest("example.com/dev", linux, "/bin/sh"),
			tar.Header{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0o755},
			tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
			tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8})
		r := e.podctl("fetch", "--insecure-options=image", aci)
		if r.code != 0 {
			t.Fatalf("fetch of an image with device nodes: %s", r)
		}
		lines := strings.Split(strings.TrimSpace(withoutProgress(r.stderr)), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "warning: image example.com/dev holds 2 device node(s) (/dev/null, /dev/sda)") {
			t.Fatalf("fetch should warn once that the device nodes are left out: %s", r)
		}
	})
}
