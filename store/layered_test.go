package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

type lentry struct {
	name, body, link string
	typ              byte
}

func layerOf(t testing.TB, es ...lentry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// layeredOf makes a LayeredImage of layers and a config.
func layeredOf(name string, cfg ImageConfig, layers ...[]byte) *LayeredImage {
	rawCfg, _ := json.Marshal(cfg)
	li := &LayeredImage{Format: FormatOCI, Reference: "oci:test:" + name, Name: name, Tag: "1",
		Config: rawCfg, ConfigDigest: sha256Digest(rawCfg), ParsedConfig: cfg}
	man := map[string]any{"config": li.ConfigDigest}
	var ds []string
	for _, l := range layers {
		l := l
		ds = append(ds, sha256Digest(l))
		li.Layers = append(li.Layers, LayerSource{Digest: sha256Digest(l), Size: int64(len(l)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil }})
	}
	man["layers"] = ds
	li.Manifest, _ = json.Marshal(man)
	li.ManifestDigest = sha256Digest(li.Manifest)
	return li
}

// treeFiles lists a tree's paths with the content of its files.
func treeFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		default:
			out[rel] = "/"
		}
		return nil
	})
	return out
}

func TestLayeredRender(t *testing.T) {
	s := openStore(t)
	base := layerOf(t,
		lentry{name: "bin/", typ: tar.TypeDir}, lentry{name: "bin/app", body: "app"},
		lentry{name: "bin/sh", typ: tar.TypeSymlink, link: "app"},
		lentry{name: "gone", body: "x"}, lentry{name: "old/sub/f", body: "x"},
		lentry{name: "opq/", typ: tar.TypeDir}, lentry{name: "opq/a", body: "a"},
		lentry{name: "keep/", typ: tar.TypeDir}, lentry{name: "keep/k", body: "k"},
		lentry{name: "swap", body: "file"}, lentry{name: "etc/passwd", body: "app:x:5:7::/:/bin/sh\n"})
	top := gz(layerOf(t,
		lentry{name: ".wh.gone"}, lentry{name: ".wh.old"},
		lentry{name: "opq/b", body: "b"}, lentry{name: "opq/.wh..wh..opq"},
		lentry{name: "keep/", typ: tar.TypeDir}, lentry{name: "keep/new", body: "n"},
		lentry{name: "swap/", typ: tar.TypeDir}, lentry{name: "link", typ: tar.TypeLink, link: "bin/app"}))
	cfg := ImageConfig{Entrypoint: []string{"sh"}, Cmd: []string{"-c", "x"}, Env: []string{"PATH=/bin"}, User: "5", WorkingDir: "w"}
	img, err := s.ImportLayered(layeredOf("example.com/layers", cfg, base, top))
	if err != nil {
		t.Fatal(err)
	}
	if img.Format != FormatOCI || img.Reference != "oci:test:example.com/layers" || img.Name != "example.com/layers" || img.Labels["version"] != "1" {
		t.Errorf("image %+v", img)
	}
	root, err := s.Tree(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bin": "/", "bin/app": "app", "bin/sh": "-> app", "opq": "/", "opq/b": "b",
		"keep": "/", "keep/k": "k", "keep/new": "n", "swap": "/", "link": "app",
		"etc": "/", "etc/passwd": "app:x:5:7::/:/bin/sh\n"}
	if got := treeFiles(t, root); !reflect.DeepEqual(got, want) {
		t.Errorf("tree %v, want %v", got, want)
	}
	im, _, err := s.Manifest(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := im.App; a == nil || !reflect.DeepEqual([]string(a.Exec), []string{"/bin/sh", "-c", "x"}) || a.User != "5" || a.Group != "7" || a.WorkingDirectory != "/w" {
		t.Errorf("app %+v", im.App)
	}
	// The same base in a second image is stored once.
	if _, err := s.ImportLayered(layeredOf("example.com/other", ImageConfig{}, base)); err != nil {
		t.Fatal(err)
	}
	if n := len(dirNamesOf(t, s.blob256Dir())); n != 4 { // 2 layers, 2 configs
		t.Errorf("%d sha256 blobs, want 4", n)
	}
	if id, err := s.Resolve("example.com/layers:1"); err != nil || id != img.ID {
		t.Errorf("Resolve by name and tag: %s, %v", id, err)
	}
	hub, err := s.ImportLayered(layeredOf("busybox", ImageConfig{User: "hub"}, base))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"busybox:1", "docker.io/library/busybox:1", "index.docker.io/library/busybox"} {
		if id, err := s.Resolve(ref); err != nil || id != hub.ID {
			t.Errorf("Resolve(%s): %s, %v", ref, id, err)
		}
	}
}

func dirNamesOf(t *testing.T, dir string) []string {
	names, err := readDirNames(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func TestLayeredRefusedLeavesNothing(t *testing.T) {
	good := layerOf(t, lentry{name: "a", body: "a"})
	for name, li := range map[string]*LayeredImage{
		"escape":          layeredOf("x", ImageConfig{}, good, layerOf(t, lentry{name: "../x", body: "x"})),
		"whiteout ..":     layeredOf("x", ImageConfig{}, good, layerOf(t, lentry{name: "a/.wh..."})),
		"through symlink": layeredOf("x", ImageConfig{}, layerOf(t, lentry{name: "l", typ: tar.TypeSymlink, link: "/"}), layerOf(t, lentry{name: "l/x", body: "x"})),
		"dangling link":   layeredOf("x", ImageConfig{}, good, layerOf(t, lentry{name: ".wh.a"}, lentry{name: "h", typ: tar.TypeLink, link: "a"})),
		"unknown type":    layeredOf("x", ImageConfig{}, good, layerOf(t, lentry{name: "sock", typ: 'Z'})),
	} {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			if _, err := s.ImportLayered(li); !errors.Is(err, ErrInvalid) {
				t.Fatalf("import: %v", err)
			}
			for _, d := range []string{s.blob256Dir(), s.blobDir(), s.tmpDir()} {
				if n := dirNamesOf(t, d); len(n) > 0 {
					t.Errorf("%s holds %v", d, n)
				}
			}
		})
	}
	s := openStore(t)
	li := layeredOf("x", ImageConfig{}, good)
	li.Layers[0].Digest = sha256Digest([]byte("other"))
	if _, err := s.ImportLayered(li); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("a layer that is not its digest: %v", err)
	}
}

func TestLayeredManifest(t *testing.T) {
	look := func(c string) (string, bool) { return "/usr/bin/" + c, c == "found" }
	for _, tc := range []struct {
		cfg  ImageConfig
		exec []string
		user string
	}{
		{ImageConfig{Cmd: []string{"found", "x"}}, []string{"/usr/bin/found", "x"}, "0:0"},
		{ImageConfig{Entrypoint: []string{"./run"}, WorkingDir: "/app", User: "web"}, []string{"/app/run"}, "web:34"},
		{ImageConfig{Entrypoint: []string{"/run"}, User: "33"}, []string{"/run"}, "33:34"},
		{ImageConfig{Entrypoint: []string{"/run"}, User: "1000"}, []string{"/run"}, "1000:0"},
		{ImageConfig{Entrypoint: []string{"/e"}, Cmd: []string{"c"}, User: "1:2"}, []string{"/e", "c"}, "1:2"},
		{ImageConfig{Cmd: []string{"missing"}}, nil, ""},
		{ImageConfig{}, nil, ""},
	} {
		b, err := layeredManifest("Docker.io/Library/BusyBox", "1.36", tc.cfg, look, []byte("root:x:0:0::/:/bin/sh\nweb:x:33:34::/:/bin/sh\n"))
		if err != nil {
			t.Fatal(err)
		}
		im, err := parseManifest(b)
		if err != nil {
			t.Fatal(err)
		}
		if im.Name != "docker.io/library/busybox" {
			t.Errorf("name %s", im.Name)
		}
		if tc.exec == nil {
			if im.App != nil {
				t.Errorf("%+v has an app: %+v", tc.cfg, im.App)
			}
			continue
		}
		if im.App == nil || !reflect.DeepEqual([]string(im.App.Exec), tc.exec) || im.App.User+":"+im.App.Group != tc.user {
			t.Errorf("%+v became %+v", tc.cfg, im.App)
		}
	}
	b, err := layeredManifest("x", "1", ImageConfig{Entrypoint: []string{"/x"}, OS: "linux", Architecture: "arm64",
		ExposedPorts: []string{"80/tcp", "53/udp", "bad"}, Volumes: []string{"/data", "/var/lib/x", "rel"},
		Env: []string{"A=1", "=bad"}, Labels: map[string]string{"org.example.k": "v", "Bad Label": "v"}}, look, nil)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := parseManifest(b)
	if v, _ := im.GetLabel("arch"); v != "aarch64" {
		t.Errorf("arch %q", v)
	}
	if len(im.App.Ports) != 2 || len(im.App.MountPoints) != 2 || len(im.App.Environment) != 1 || len(im.Annotations) != 1 {
		t.Errorf("app %+v annotations %+v", im.App, im.Annotations)
	}
}

// FuzzLayeredManifest maps arbitrary configs: the manifest made is valid
// appc, its command absolute, or the image is refused.
func FuzzLayeredManifest(f *testing.F) {
	f.Add("example.com/x", "1", []byte(`{"entrypoint":["sh"],"cmd":["-c","x"],"env":["PATH=/bin"],"user":"1:2","workingDir":"w","exposedPorts":["80/tcp"],"volumes":["/d"],"labels":{"a.b":"c"}}`), []byte("u:x:1:2::/:/bin/sh\n"))
	f.Add("", "", []byte(`{"user":"u"}`), []byte("u:x:1:2"))
	f.Fuzz(func(t *testing.T, name, tag string, cfgJSON, passwd []byte) {
		var cfg ImageConfig
		if json.Unmarshal(cfgJSON, &cfg) != nil {
			return
		}
		look := func(c string) (string, bool) { return path.Join("/bin", c), !strings.ContainsAny(c, "/\x00") }
		b, err := layeredManifest(name, tag, cfg, look, passwd)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		im, err := parseManifest(b)
		if err != nil {
			t.Fatalf("made an invalid manifest: %v\n%s", err, b)
		}
		if im.App != nil && (len(im.App.Exec) == 0 || !path.IsAbs(im.App.Exec[0])) {
			t.Fatalf("command %q is not absolute", im.App.Exec)
		}
	})
}

// FuzzLayers imports arbitrary bytes as the top layer over a base layer
// and renders what is accepted: never a panic, never a file outside the
// store, and a refused image leaves no blob behind.
func FuzzLayers(f *testing.F) {
	f.Add(layerOf(f, lentry{name: ".wh.a"}, lentry{name: "d/.wh..wh..opq"}, lentry{name: "d/n", body: "n"}))
	f.Add(layerOf(f, lentry{name: "l/x", body: "x"}))
	f.Add(layerOf(f, lentry{name: "../../outside/x", body: "x"}))
	f.Add(layerOf(f, lentry{name: "d/.wh...", body: ""}))
	f.Add(gz(layerOf(f, lentry{name: "a/", typ: tar.TypeDir}, lentry{name: "h", typ: tar.TypeLink, link: "d/f"})))
	f.Add([]byte{})
	base := layerOf(f, lentry{name: "a", body: "a"}, lentry{name: "d/f", body: "f"}, lentry{name: "l", typ: tar.TypeSymlink, link: "../../outside"})
	f.Fuzz(func(t *testing.T, top []byte) {
		parent := t.TempDir()
		outside := filepath.Join(parent, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		s, err := Open(filepath.Join(parent, "store"))
		if err != nil {
			t.Fatal(err)
		}
		s.SetLimits(Limits{MaxSize: 4 << 20, MaxEntries: 1000})
		img, err := s.ImportLayered(layeredOf("x", ImageConfig{}, base, top))
		if err != nil {
			if n := dirNamesOf(t, s.blobDir()); len(n) > 0 {
				t.Fatalf("a refused image left %v", n)
			}
		} else {
			_, _ = s.Tree(img.ID)
		}
		if n := dirNamesOf(t, outside); len(n) > 0 {
			t.Fatalf("the layer wrote %v outside the store", n)
		}
	})
}

func TestLayeredZstd(t *testing.T) {
	zw, _ := zstd.NewWriter(nil)
	layer := zw.EncodeAll(layerOf(t, lentry{name: "z", body: "zstd"}), nil)
	s := openStore(t)
	if _, err := s.ImportLayered(layeredOf("x", ImageConfig{}, layer)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "zstd") {
		t.Fatalf("a zstd layer without a decoder: %v", err)
	}
	s.SetZstdReader(func(r io.Reader) (io.ReadCloser, error) {
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	})
	img, err := s.ImportLayered(layeredOf("x", ImageConfig{}, layer))
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.Tree(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "z")); string(b) != "zstd" {
		t.Errorf("z holds %q", b)
	}
}

// Removing a layered image frees its own layers and config at once, and
// keeps those another image shares.
func TestLayeredRemoveFreesLayers(t *testing.T) {
	s := openStore(t)
	shared := layerOf(t, lentry{name: "shared", body: "s"})
	a, err := s.ImportLayered(layeredOf("a", ImageConfig{Cmd: []string{"a"}}, shared, layerOf(t, lentry{name: "a", body: "a"})))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.ImportLayered(layeredOf("b", ImageConfig{Cmd: []string{"b"}}, shared, layerOf(t, lentry{name: "b", body: "b"})))
	if err != nil {
		t.Fatal(err)
	}
	if n := dirNamesOf(t, s.blob256Dir()); len(n) != 5 {
		t.Fatalf("two images with a layer in common hold %d blobs, want 5 (2 configs, 3 layers): %v", len(n), n)
	}
	if err := s.Remove(a.ID, false); err != nil {
		t.Fatal(err)
	}
	sharedBlob := strings.TrimPrefix(sha256Digest(shared), "sha256:")
	if n := dirNamesOf(t, s.blob256Dir()); len(n) != 3 || !slices.Contains(n, sharedBlob) {
		t.Fatalf("after removing one image, blobs %v, want b's config, the shared layer and b's own", n)
	}
	if _, err := s.Tree(b.ID); err != nil {
		t.Fatalf("the image left renders: %v", err)
	}
	if err := s.Remove(b.ID, false); err != nil {
		t.Fatal(err)
	}
	if n := dirNamesOf(t, s.blob256Dir()); len(n) != 0 {
		t.Fatalf("after removing both images, blobs %v are left", n)
	}
}
