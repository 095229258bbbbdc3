package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The OCI and Docker images of these tests: one made with the real tools
// (umoci builds an OCI layout from busybox-static, skopeo converts it to
// an OCI archive and a docker save archive), and layouts written here
// layer by layer, for whiteouts, shared layers and hostile content.

// needTools fails the test unless umoci and skopeo are installed.
func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"umoci", "skopeo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("need %s: apt-get install -y umoci skopeo (build.sh does)", tool)
		}
	}
}

func runTool(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// toolImages builds the busybox image with umoci as oci:DIR/img:1.0 and
// converts it with skopeo, and returns the three references to it.
func toolImages(t *testing.T) (oci, archive, docker string) {
	needTools(t)
	dir := t.TempDir()
	runTool(t, dir, "umoci", "init", "--layout", "img")
	runTool(t, dir, "umoci", "new", "--image", "img:1.0")
	runTool(t, dir, "umoci", "unpack", "--image", "img:1.0", "bundle")
	rootfs := filepath.Join(dir, "bundle", "rootfs")
	for _, d := range []string{"bin", "etc", "work", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runTool(t, dir, "cp", busyboxPath, filepath.Join(rootfs, "bin", "busybox"))
	for _, a := range []string{"sh", "echo", "cat", "ls", "id", "env", "pwd"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/work:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\napp:x:1000:\n"), 0o644)
	runTool(t, dir, "umoci", "repack", "--image", "img:1.0", "bundle")
	runTool(t, dir, "umoci", "config", "--image", "img:1.0",
		"--config.entrypoint", "sh", "--config.cmd", "-c", "--config.cmd", `echo "hi $FOO"; id -u; id -g; pwd`,
		"--config.env", "FOO=bar", "--config.user", "1000:1000", "--config.workingdir", "/work",
		"--config.exposedports", "8080/tcp", "--config.volume", "/data", "--config.label", "org.example.kind=test")
	runTool(t, dir, "skopeo", "copy", "-q", "oci:img:1.0", "oci-archive:"+filepath.Join(dir, "img.tar")+":1.0")
	runTool(t, dir, "skopeo", "copy", "-q", "oci:img:1.0", "docker-archive:"+filepath.Join(dir, "docker.tar")+":example.com/bb:1.0")
	return "oci:" + filepath.Join(dir, "img") + ":1.0", "oci-archive:" + filepath.Join(dir, "img.tar") + ":1.0", "docker-archive:" + filepath.Join(dir, "docker.tar")
}

func TestOCIFormats(t *testing.T) {
	oci, archive, docker := toolImages(t)
	forEachFlavor(t, func(t *testing.T, e *env) {
		for _, ref := range []string{oci, archive, docker} {
			id := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", ref))
			if !strings.HasPrefix(id, "sha512-") {
				t.Fatalf("fetch %s printed %q", ref, id)
			}
			// Entrypoint and cmd, env, user and group, working dir.
			out := e.must("run", id)
			for _, want := range []string{"hi bar\n", "1000\n1000\n", "/work\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s ran %q, want %q in it", ref, out, want)
				}
			}
			// --exec and -- override as for ACIs.
			if out := e.must("run", id, "--exec", "/bin/echo", "--", "over", "ridden"); strings.TrimSpace(out) != "over ridden" {
				t.Errorf("%s with --exec: %q", ref, out)
			}
		}
		// By name and tag, and by the reference fetched.
		if out := e.must("run", "example.com/bb:1.0", "--exec", "/bin/echo", "--", "by-name"); !strings.Contains(out, "by-name") {
			t.Errorf("run by name: %q", out)
		}
		if out := e.must("run", "--insecure-options=image", archive, "--exec", "/bin/echo", "--", "by-ref"); !strings.Contains(out, "by-ref") {
			t.Errorf("run by reference: %q", out)
		}
	})
}

func TestOCIImageList(t *testing.T) {
	oci, _, docker := toolImages(t)
	e := newEnv(t)
	e.must("fetch", "--insecure-options=image", oci, docker)
	var imgs []struct {
		Name, Format, Reference, Digest string
		Labels                          map[string]string
	}
	if err := json.Unmarshal([]byte(e.must("image", "list", "--format=json")), &imgs); err != nil || len(imgs) != 2 {
		t.Fatalf("image list: %v %+v", err, imgs)
	}
	if imgs[0].Format != "oci" || imgs[0].Reference != oci || !strings.HasPrefix(imgs[0].Digest, "sha256:") || imgs[0].Labels["version"] != "1.0" {
		t.Errorf("oci image listed as %+v", imgs[0])
	}
	if imgs[1].Format != "docker-archive" || imgs[1].Reference != docker || imgs[1].Name != "example.com/bb" {
		t.Errorf("docker image listed as %+v", imgs[1])
	}
	out := e.must("image", "list")
	if !strings.Contains(out, "FORMAT") || !strings.Contains(out, "docker-archive") || !strings.Contains(out, docker) {
		t.Errorf("image list:\n%s", out)
	}
	m := e.must("image", "cat-manifest", "example.com/bb:1.0")
	for _, want := range []string{`"port-8080-tcp"`, `"/data"`, `"org.example.kind"`} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %s:\n%s", want, m)
		}
	}
}

// entry is one entry of a layer written by the tests.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func layerTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, en := range entries {
		h := &tar.Header{Name: en.name, Typeflag: en.typ, Mode: en.mode, Linkname: en.link, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(en.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(en.body))
		}
	}
	tw.Close()
	return b.Bytes()
}

// baseEntries are busybox with a shell and a few applets.
func baseEntries(t *testing.T) []entry {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	es := []entry{{name: "bin/", typ: tar.TypeDir}, {name: "bin/busybox", body: string(bb), mode: 0o755}, {name: "etc/", typ: tar.TypeDir},
		{name: "etc/passwd", body: "root:x:0:0:root:/root:/bin/sh\n"}, {name: "etc/group", body: "root:x:0:\n"}}
	for _, a := range []string{"sh", "echo", "cat", "ls", "test"} {
		es = append(es, entry{name: "bin/" + a, typ: tar.TypeSymlink, link: "busybox"})
	}
	return es
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func zstded(b []byte) []byte {
	zw, _ := zstd.NewWriter(nil)
	return zw.EncodeAll(b, nil)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// layout describes an OCI layout the tests write.
type layout struct {
	cmd    []string
	layers [][]byte
	// lie, if set, changes a manifest before it is written.
	lie func(m map[string]any)
	// blobs replaces the content stored for a digest.
	blobs map[string][]byte
	// multiArch puts the image in an index of platforms.
	multiArch bool
}

// write writes the layout into dir with the tag "1" and returns its
// reference.
func (l layout) write(t *testing.T, dir string) string {
	t.Helper()
	put := func(b []byte) string {
		d := digest(b)
		p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if r, ok := l.blobs[d]; ok {
			b = r
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var diffIDs []string
	var descs []map[string]any
	for _, layer := range l.layers {
		mt := "application/vnd.oci.image.layer.v1.tar"
		plain := layer
		switch {
		case bytes.HasPrefix(layer, []byte{0x1f, 0x8b}):
			mt += "+gzip"
			zr, _ := gzip.NewReader(bytes.NewReader(layer))
			var b bytes.Buffer
			b.ReadFrom(zr)
			plain = b.Bytes()
		case bytes.HasPrefix(layer, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			mt += "+zstd"
			zr, _ := zstd.NewReader(nil)
			plain, _ = zr.DecodeAll(layer, nil)
		}
		diffIDs = append(diffIDs, digest(plain))
		descs = append(descs, map[string]any{"mediaType": mt, "digest": put(layer), "size": len(layer)})
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": l.cmd},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	m := map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
		"layers": descs,
	}
	if l.lie != nil {
		l.lie(m)
	}
	mb, _ := json.Marshal(m)
	top := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(mb), "size": len(mb)}
	if l.multiArch {
		// An index of platforms: an arm64 image that is not there, and
		// this one as amd64.
		top["platform"] = map[string]string{"os": "linux", "architecture": "amd64"}
		other := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest([]byte("absent")), "size": 6,
			"platform": map[string]string{"os": "linux", "architecture": "arm64"}}
		ib, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{other, top}})
		top = map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(ib), "size": len(ib)}
	}
	top["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "1"}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{top}})
	os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return "oci:" + dir + ":1"
}

func TestOCIWhiteouts(t *testing.T) {
	base := append(baseEntries(t),
		entry{name: "etc/gone", body: "x"},
		entry{name: "old/", typ: tar.TypeDir}, entry{name: "old/sub/", typ: tar.TypeDir}, entry{name: "old/sub/f", body: "x"},
		entry{name: "opq/", typ: tar.TypeDir}, entry{name: "opq/a", body: "a"}, entry{name: "opq/b", body: "b"},
		entry{name: "keep", body: "kept"})
	l := layout{
		cmd: []string{"/bin/sh", "-c", "ls /etc/gone /old 2>&1; echo opq: $(ls /opq); cat /keep /z; echo; cat /etc/passwd"},
		layers: [][]byte{
			layerTar(t, base),
			gzipped(layerTar(t, []entry{{name: "etc/.wh.gone"}, {name: ".wh.old"}, {name: "opq/c", body: "c"}, {name: "opq/.wh..wh..opq"}})),
			zstded(layerTar(t, []entry{{name: "z", body: "zstd"}, {name: "etc/passwd", body: "root:x:0:0:new:/root:/bin/sh\n"}})),
		},
	}
	ref := l.write(t, t.TempDir())
	forEachFlavor(t, func(t *testing.T, e *env) {
		out := e.must("run", "--insecure-options=image", ref)
		for _, want := range []string{"/etc/gone: No such file", "/old: No such file", "opq: c\n", "keptzstd", "root:x:0:0:new:"} {
			if !strings.Contains(out, want) {
				t.Errorf("the layers rendered as %q, want %q in it", out, want)
			}
		}
	})
	// image render and extract give the same tree.
	e := newEnv(t)
	id := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", ref))
	for _, verb := range []string{"render", "extract"} {
		dir := filepath.Join(t.TempDir(), "tree")
		e.must("image", verb, "--rootfs-only", id, dir)
		for name, want := range map[string]string{"keep": "kept", "z": "zstd", "opq/c": "c"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
				t.Errorf("image %s: %s holds %q (%v), want %q", verb, name, b, err, want)
			}
		}
		for _, gone := range []string{"etc/gone", "old", "opq/a"} {
			if _, err := os.Lstat(filepath.Join(dir, gone)); err == nil {
				t.Errorf("image %s: %s is there, whited out", verb, gone)
			}
		}
	}
	// export writes it as an OCI archive, which fetch takes back as the
	// same image, in this store and in another.
	archive := filepath.Join(t.TempDir(), "x.oci.tar")
	e.must("image", "export", id, archive)
	if got := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", "oci-archive:"+archive)); got != id {
		t.Errorf("export then fetch gave %s, want %s", got, id)
	}
	other := newEnv(t)
	if got := strings.TrimSpace(other.must("fetch", "--full", "--insecure-options=image", "oci-archive:"+archive)); got != id {
		t.Errorf("export then fetch into another store gave %s, want %s", got, id)
	}
	// inspect gives the image's OCI config as stored.
	var in struct {
		Format string `json:"format"`
		Config struct {
			Config struct {
				Cmd []string `json:"Cmd"`
			} `json:"config"`
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(e.must("image", "inspect", id)), &in); err != nil {
		t.Fatal(err)
	}
	if in.Format != "oci" || len(in.Config.RootFS.DiffIDs) != 3 || len(in.Config.Config.Cmd) == 0 {
		t.Errorf("image inspect of an OCI image: %+v", in)
	}
}

// blobFiles lists the files below the store's blobs/.
func (e *env) blobFiles() []string {
	var files []string
	filepath.Walk(filepath.Join(e.dir, "images", "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, strings.TrimPrefix(p, e.dir))
		}
		return nil
	})
	return files
}

func TestOCISharedLayer(t *testing.T) {
	shared := gzipped(layerTar(t, baseEntries(t)))
	a := layout{cmd: []string{"/bin/echo", "a"}, layers: [][]byte{shared}}.write(t, t.TempDir())
	b := layout{cmd: []string{"/bin/echo", "b"}, layers: [][]byte{shared, layerTar(t, []entry{{name: "b", body: "b"}})}}.write(t, t.TempDir())
	e := newEnv(t)
	ida := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", a))
	e.must("fetch", "--insecure-options=image", b)
	// Two manifests; the shared layer, b's own layer and two configs.
	files := e.blobFiles()
	if n := strings.Count(strings.Join(files, "\n"), "/sha256/"); n != 4 || len(files) != 6 {
		t.Fatalf("the store holds %d sha256 blobs in %v, want the shared layer once", n, files)
	}
	if out := e.must("run", "--stage1=fly", ida); strings.TrimSpace(out) != "a" {
		t.Errorf("image a ran %q", out)
	}
	// gc removes what no image names any more, and nothing else.
	e.must("image", "rm", ida)
	e.must("image", "gc", "--grace-period=24h")
	if files := e.blobFiles(); len(files) != 4 {
		t.Errorf("after removing a: %v", files)
	}
	e.must("image", "gc", "--grace-period=0s")
	if files := e.blobFiles(); len(files) != 0 {
		t.Errorf("after gc: %v", files)
	}
}

func TestOCIPlatformIndex(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the index names amd64")
	}
	ref := layout{cmd: []string{"/bin/echo", "picked"}, layers: [][]byte{layerTar(t, baseEntries(t))}, multiArch: true}.write(t, t.TempDir())
	e := newEnv(t)
	if out := e.must("run", "--stage1=fly", "--insecure-options=image", ref); strings.TrimSpace(out) != "picked" {
		t.Errorf("the amd64 image of the index ran %q", out)
	}
}

func TestOCIHostile(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	good := layerTar(t, baseEntries(t))
	for _, tc := range []struct {
		name, want string
		layout     layout
		flags      []string
	}{
		{"path escape", `".." component`, layout{layers: [][]byte{layerTar(t, []entry{{name: "../../escaped", body: "x"}})}}, nil},
		{"absolute path", "absolute path", layout{layers: [][]byte{layerTar(t, []entry{{name: outside + "/abs", body: "x"}})}}, nil},
		{"symlink escape", "a symlink of the image", layout{layers: [][]byte{
			layerTar(t, []entry{{name: "esc", typ: tar.TypeSymlink, link: outside}}),
			layerTar(t, []entry{{name: "esc/pwned", body: "x"}})}}, nil},
		{"whiteout of ..", "whiteout", layout{layers: [][]byte{good, layerTar(t, []entry{{name: "etc/.wh..."}})}}, nil},
		{"whiteout escape", `".." component`, layout{layers: [][]byte{good, layerTar(t, []entry{{name: "../.wh.etc"}})}}, nil},
		{"absolute whiteout", "absolute path", layout{layers: [][]byte{good, layerTar(t, []entry{{name: "/.wh.etc"}})}}, nil},
		{"whiteout of .", "whiteout", layout{layers: [][]byte{good, layerTar(t, []entry{{name: "etc/.wh.."}})}}, nil},
		{"digest mismatch", "has digest", layout{layers: [][]byte{good}, blobs: map[string][]byte{
			digest(good): bytes.Replace(good, []byte("root:x:0:\n"), []byte("toor:x:0:\n"), 1)}}, nil},
		{"size lie", "not", layout{layers: [][]byte{good}, lie: func(m map[string]any) {
			m["layers"].([]map[string]any)[0]["size"] = 100
		}}, nil},
		{"config size lie", "not 1 as its descriptor says", layout{layers: [][]byte{good}, lie: func(m map[string]any) {
			m["config"].(map[string]any)["size"] = 1
		}}, nil},
		{"bomb", "--max-image-size", layout{layers: [][]byte{gzipped(layerTar(t, []entry{{name: "zeros", body: strings.Repeat("\x00", 4<<20)}}))}}, []string{"--max-image-size=1M"}},
		{"entries", "--max-image-entries", layout{layers: [][]byte{good}}, []string{"--max-image-entries=5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ref := tc.layout.write(t, t.TempDir())
			r := e.podctl(append(append([]string{"fetch", "--insecure-options=image"}, tc.flags...), ref)...)
			if r.code != 254 || strings.Count(strings.TrimSpace(withoutProgress(r.stderr)), "\n") != 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit 254 and one line with %q: %s", tc.want, r)
			}
			t.Log(r.stderr)
			if out := strings.TrimSpace(e.must("image", "list", "--format=json")); out != "[]" {
				t.Errorf("image list after a refused image: %s", out)
			}
			var left []string
			for _, d := range []string{"blobs", "tmp", "trees"} {
				filepath.Walk(filepath.Join(e.dir, "images", d), func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() {
						left = append(left, p)
					}
					return nil
				})
			}
			if len(left) > 0 {
				t.Errorf("a refused image left %v", left)
			}
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Errorf("the image wrote outside the store: %v", ents)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "escaped")); err == nil {
				t.Error("the image wrote outside the store")
			}
		})
	}
}

func TestOCIArchiveHostile(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "evil.tar")
	os.WriteFile(file, layerTar(t, []entry{{name: "oci-layout", body: "{}"}, {name: "../../escaped", body: "x"}}), 0o644)
	r := e.podctl("fetch", "--insecure-options=image", "oci-archive:"+file)
	if r.code != 254 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "leaves the archive") {
		t.Fatalf("want one line refusing the entry: %s", r)
	}
	for _, d := range []string{"blobs", "tmp"} {
		filepath.Walk(filepath.Join(e.dir, "images", d), func(p string, fi os.FileInfo, err error) error {
			if err == nil && p != filepath.Join(e.dir, "images", d) && (!fi.IsDir() || d == "tmp") {
				t.Errorf("a refused archive left %s", p)
			}
			return nil
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(file), "escaped")); err == nil {
		t.Error("the archive wrote outside the store")
	}
}
