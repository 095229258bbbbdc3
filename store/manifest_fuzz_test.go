package store

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// Image manifests as real images have them, for the seeds.
var manifestSeeds = []string{
	`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/busybox",
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"},{"name":"version","value":"1.0"}],
"app":{"exec":["/bin/sh"],"user":"0","group":"0","environment":[{"name":"FROM_IMAGE","value":"yes"}]}}`,
	`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/good","labels":[{"name":"os","value":"linux"}],
"app":{"exec":["/bin/sh","-c","true"],"user":"0","group":"0","workingDirectory":"/",
"mountPoints":[{"name":"data","path":"/data","readOnly":true}],"ports":[{"name":"http","protocol":"tcp","port":80}],
"isolators":[{"name":"resource/memory","value":{"limit":"64M"}},{"name":"resource/cpu","value":{"request":"250m","limit":"500m"}},
{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_BIND_SERVICE"]}},{"name":"os/linux/no-new-privileges","value":true}]},
"annotations":[{"name":"authors","value":"podctl tests"}]}`,
	`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bad","app":{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[{"name":"resource/memory"}]}}`,
	`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/deps","dependencies":[{"imageName":"example.com/base"}]}`,
}

// FuzzParseManifest parses image manifests as the store reads them, at
// import and from its index. A refusal says what is wrong in one line and
// is an invalid or unsupported image; what is accepted encodes and parses
// again to the same manifest.
func FuzzParseManifest(f *testing.F) {
	for _, s := range manifestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := parseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("error %q is neither ErrInvalid nor ErrUnsupported", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		first, err := json.Marshal(im)
		if err != nil {
			// The store keeps a manifest's bytes and never encodes one.
			return
		}
		im2, err := parseManifest(first)
		if err != nil {
			t.Fatalf("%s does not parse again: %v", first, err)
		}
		if second, _ := json.Marshal(im2); !bytes.Equal(first, second) {
			t.Fatalf("manifest changed in a round trip:\n%s\n%s", first, second)
		}
	})
}

// FuzzImportManifest imports an image whose manifest the fuzzer writes.
// An image refused leaves nothing in the store; one accepted is listed,
// and its manifest reads back as the bytes it had.
func FuzzImportManifest(f *testing.F) {
	for _, s := range manifestSeeds {
		f.Add([]byte(s))
	}
	s, err := Open(filepath.Join(f.TempDir(), "images"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, manifest []byte) {
		aci := aciWithManifest(t, manifest)
		img, err := s.Import(bytes.NewReader(aci))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("error %q is neither ErrInvalid nor ErrUnsupported", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q is not one line", err)
			}
			imgs, lerr := s.List()
			if lerr != nil || len(imgs) != 0 {
				t.Fatalf("after a refused import the store lists %v, %v", imgs, lerr)
			}
			for _, d := range []string{s.blobDir(), s.tmpDir()} {
				if names, _ := readDirNames(d); len(names) != 0 {
					t.Fatalf("after a refused import %s holds %v", d, names)
				}
			}
			return
		}
		im, raw, err := s.Manifest(img.ID)
		if err != nil || !bytes.Equal(raw, manifest) || im.Name.String() != img.Name {
			t.Fatalf("manifest of %s read back as %q (%v), want %q", img.ID, raw, err, manifest)
		}
		// Leave the store empty for the next run.
		if err := s.Remove(img.ID, false); err != nil {
			t.Fatal(err)
		}
	})
}

// aciWithManifest is a plain-tar ACI with the manifest given and one file.
func aciWithManifest(t *testing.T, manifest []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		typ  byte
		body []byte
	}{
		{"manifest", tar.TypeReg, manifest},
		{"rootfs/", tar.TypeDir, nil},
		{"rootfs/hello", tar.TypeReg, []byte("hello\n")},
	} {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), ModTime: testTime}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
