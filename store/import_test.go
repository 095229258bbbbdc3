package store

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestImportFormats(t *testing.T) {
	plain := simpleACI(t, "example.com/formats", "version", "1.2")
	wantID := idOf(plain)
	for _, format := range []string{"tar", "gzip", "bzip2", "xz"} {
		t.Run(format, func(t *testing.T) {
			s := openStore(t)
			data := compress(t, format, plain)
			if format != "tar" && bytes.Equal(data, plain) {
				t.Fatal("compression did nothing")
			}
			img := mustImport(t, s, data)
			if img.ID != wantID {
				t.Errorf("ID = %s, want %s (sha512 of the uncompressed tar)", img.ID, wantID)
			}
			if img.Name != "example.com/formats" {
				t.Errorf("Name = %q", img.Name)
			}
			if want := map[string]string{"version": "1.2"}; !reflect.DeepEqual(img.Labels, want) {
				t.Errorf("Labels = %v, want %v", img.Labels, want)
			}
			if img.Size != int64(len(plain)) {
				t.Errorf("Size = %d, want %d", img.Size, len(plain))
			}
			if img.ImportTime.IsZero() || !img.LastUsed.Equal(img.ImportTime) {
				t.Errorf("ImportTime %v, LastUsed %v: want both set and equal", img.ImportTime, img.LastUsed)
			}
			// The blob is the uncompressed tar, named by its whole digest.
			blobs := dirNames(t, s.blobDir())
			if len(blobs) != 1 || blobs[0][:64] != wantID[len("sha512-"):] || len(blobs[0]) != 128 {
				t.Fatalf("blobs = %v", blobs)
			}
			got, err := os.ReadFile(filepath.Join(s.blobDir(), blobs[0]))
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("blob differs from the uncompressed tar (err %v)", err)
			}
			if names := dirNames(t, s.tmpDir()); len(names) != 0 {
				t.Errorf("tmp/ left with %v", names)
			}
		})
	}
}

func TestImportTwiceStoresOnce(t *testing.T) {
	s := openStore(t)
	plain := simpleACI(t, "example.com/twice")
	first := mustImport(t, s, compress(t, "gzip", plain))
	second := mustImport(t, s, plain)
	if first.ID != second.ID {
		t.Fatalf("IDs differ: %s, %s", first.ID, second.ID)
	}
	if second.ImportTime.Before(first.ImportTime) {
		t.Errorf("second import time %v before the first %v", second.ImportTime, first.ImportTime)
	}
	if blobs := dirNames(t, s.blobDir()); len(blobs) != 1 {
		t.Errorf("blobs = %v, want one", blobs)
	}
	imgs, err := s.List()
	if err != nil || len(imgs) != 1 || imgs[0].ID != first.ID {
		t.Errorf("List = %v, %v; want only %s", imgs, err, first.ID)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ left with %v", names)
	}
}

func TestImportCorrupt(t *testing.T) {
	good := simpleACI(t, "example.com/corrupt")
	gz := compress(t, "gzip", good)
	cases := map[string][]byte{
		"truncated gzip":   gz[:len(gz)-20],
		"truncated xz":     func() []byte { x := compress(t, "xz", good); return x[:len(x)/2] }(),
		"gzip bad crc":     func() []byte { g := bytes.Clone(gz); g[len(g)-6] ^= 0xff; return g }(),
		"truncated tar":    good[:1100],
		"garbage":          bytes.Repeat([]byte{0x42, 0x13, 0x00, 0xfe}, 1000),
		"text":             []byte("this is not an image\n"),
		"empty":            nil,
		"missing manifest": buildTar(t, ent{name: "rootfs/", typ: tar.TypeDir}, ent{name: "rootfs/a", body: "a"}),
		"missing rootfs":   buildTar(t, ent{name: "manifest", body: manifestJSON("example.com/x")}),
		"manifest not json": buildACI(t, "{not json",
			ent{name: "rootfs/a", body: "a"}),
		"manifest wrong kind": buildACI(t, `{"acKind":"PodManifest","acVersion":"0.8.11","name":"example.com/x"}`),
		"manifest no name":    buildACI(t, `{"acKind":"ImageManifest","acVersion":"0.8.11"}`),
		"manifest bad name":   buildACI(t, manifestJSON("Not A Valid Name")),
		"manifest bad arch":   buildACI(t, manifestJSON("example.com/x", "os", "linux", "arch", "pdp11")),
		"manifest is a dir": buildTar(t, ent{name: "manifest/", typ: tar.TypeDir},
			ent{name: "rootfs/", typ: tar.TypeDir}),
		"two manifests": buildTar(t, ent{name: "manifest", body: manifestJSON("example.com/x")},
			ent{name: "./manifest", body: manifestJSON("example.com/y")}, ent{name: "rootfs/", typ: tar.TypeDir}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			_, err := s.Import(bytes.NewReader(data))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Import error = %v, want one wrapping ErrInvalid", err)
			}
			assertEmpty(t, s)
		})
	}
}

func TestImportRefusesDependencies(t *testing.T) {
	s := openStore(t)
	m := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/dep",` +
		`"dependencies":[{"imageName":"example.com/base"}]}`
	_, err := s.Import(bytes.NewReader(buildACI(t, m)))
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "dependencies") {
		t.Fatalf("Import error = %v, want errors.ErrUnsupported naming dependencies", err)
	}
	assertEmpty(t, s)
}

// failingReader returns its data, then an I/O error.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestImportReadErrorIsNotInvalid(t *testing.T) {
	s := openStore(t)
	data := compress(t, "gzip", simpleACI(t, "example.com/io"))
	ioErr := errors.New("connection reset")
	_, err := s.Import(&failingReader{r: bytes.NewReader(data[:len(data)/2]), err: ioErr})
	if !errors.Is(err, ioErr) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Import error = %v, want the read error, not ErrInvalid", err)
	}
	assertEmpty(t, s)
}

// hostileCases are archives that try to write outside their tree. outside is
// a folder beside the store that none of them may touch; each case names
// the entry the error must mention.
func hostileCases(t testing.TB, outside string) map[string]struct {
	entries []ent
	entry   string
} {
	dir := func(n string) ent { return ent{name: n, typ: tar.TypeDir} }
	file := func(n string) ent { return ent{name: n, body: "pwned"} }
	sym := func(n, to string) ent { return ent{name: n, typ: tar.TypeSymlink, link: to} }
	hard := func(n, to string) ent { return ent{name: n, typ: tar.TypeLink, link: to} }
	type c = struct {
		entries []ent
		entry   string
	}
	return map[string]c{
		"dotdot":                  {[]ent{file("rootfs/../pwned")}, "rootfs/../pwned"},
		"dotdot deep":             {[]ent{dir("rootfs/a/"), file("rootfs/a/../../pwned")}, "rootfs/a/../../pwned"},
		"dotdot leading":          {[]ent{file("../pwned")}, "../pwned"},
		"absolute":                {[]ent{file(outside + "/pwned")}, outside + "/pwned"},
		"outside rootfs":          {[]ent{file("etc/passwd")}, "etc/passwd"},
		"file through symlink":    {[]ent{sym("rootfs/a", outside), file("rootfs/a/pwned")}, "rootfs/a/pwned"},
		"dir through symlink":     {[]ent{sym("rootfs/a", outside), dir("rootfs/a/sub/")}, "rootfs/a/sub/"},
		"relative symlink escape": {[]ent{sym("rootfs/a", "../../../../../../.."+outside), file("rootfs/a/pwned")}, "rootfs/a/pwned"},
		"symlink inside the tree": {[]ent{dir("rootfs/d/"), dir("rootfs/d/sub/"), sym("rootfs/a", "d"), file("rootfs/a/sub/pwned")}, "rootfs/a/sub/pwned"},
		"symlink in the middle":   {[]ent{dir("rootfs/d/"), sym("rootfs/d/a", "/"), file("rootfs/d/a/b/pwned")}, "rootfs/d/a/b/pwned"},
		"symlink then same dir":   {[]ent{sym("rootfs/a", outside), dir("rootfs/a/")}, "rootfs/a/"},
		"symlink over dir":        {[]ent{dir("rootfs/d/"), file("rootfs/d/f"), sym("rootfs/d", outside)}, "rootfs/d"},
		"hardlink absolute":       {[]ent{hard("rootfs/h", outside+"/target")}, "rootfs/h"},
		"hardlink dotdot":         {[]ent{hard("rootfs/h", "rootfs/../../target")}, "rootfs/h"},
		"hardlink via symlink":    {[]ent{sym("rootfs/a", outside), hard("rootfs/h", "rootfs/a/target")}, "rootfs/h"},
		"hardlink to manifest":    {[]ent{hard("rootfs/h", "manifest")}, "rootfs/h"},
		"hardlink to nothing":     {[]ent{hard("rootfs/h", "rootfs/nothing")}, "rootfs/h"},
		"hardlink to dir":         {[]ent{dir("rootfs/d/"), hard("rootfs/h", "rootfs/d")}, "rootfs/h"},
		"hardlink to later file":  {[]ent{hard("rootfs/h", "rootfs/f"), file("rootfs/f")}, "rootfs/h"},
		"duplicate file":          {[]ent{file("rootfs/f"), file("rootfs/f")}, "rootfs/f"},
		"file below file":         {[]ent{file("rootfs/f"), file("rootfs/f/g")}, "rootfs/f/g"},
		"rootfs is a symlink":     {[]ent{sym("rootfs/", outside)}, "rootfs/"},
	}
}

func TestImportHostile(t *testing.T) {
	outside := t.TempDir()
	target := filepath.Join(outside, "target")
	if err := os.WriteFile(target, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range hostileCases(t, outside) {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			entries := c.entries
			if name == "rootfs is a symlink" {
				// No rootfs/ directory before it.
				data := buildTar(t, append([]ent{{name: "manifest", body: manifestJSON("example.com/hostile")}}, entries...)...)
				checkRefused(t, s, data, c.entry, outside)
				return
			}
			checkRefused(t, s, buildACI(t, manifestJSON("example.com/hostile"), entries...), c.entry, outside)
		})
	}
}

func checkRefused(t *testing.T, s *Store, data []byte, entry, outside string) {
	t.Helper()
	_, err := s.Import(bytes.NewReader(compress(t, "gzip", data)))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Import error = %v, want one wrapping ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), `"`+entry+`"`) {
		t.Errorf("error %q does not name the entry %q", err, entry)
	}
	assertEmpty(t, s)
	assertUntouched(t, outside)
}

// assertUntouched checks that outside still holds only its "target" file,
// unchanged.
func assertUntouched(t *testing.T, outside string) {
	t.Helper()
	if names := dirNames(t, outside); !reflect.DeepEqual(names, []string{"target"}) {
		t.Errorf("%s now holds %v", outside, names)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "target")); err != nil || string(b) != "secret" {
		t.Errorf("outside target changed: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(outside, "target")); err != nil || linkCount(fi) != 1 {
		t.Errorf("outside target: %v, want one link and no error", err)
	}
}
