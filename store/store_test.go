package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
	bolt "go.etcd.io/bbolt"
)

// The store tests need root: they check ownership, setuid bits and device
// nodes. They fail without it, unless PODCTL_SKIP_ROOT_TESTS=1 asks to skip.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("PODCTL_SKIP_ROOT_TESTS") == "1" {
		t.Skip("needs root; skipped because PODCTL_SKIP_ROOT_TESTS=1")
	}
	t.Fatal("the store tests need root (ownership, setuid bits, device nodes); set PODCTL_SKIP_ROOT_TESTS=1 to skip them")
}

// ent is one entry of a test archive.
type ent struct {
	name     string
	typ      byte // tar.TypeReg when zero
	body     string
	link     string
	mode     int64
	uid, gid int
	mtime    time.Time
	pax      map[string]string
	major    int64
	minor    int64
}

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// buildTar writes entries as a plain tar.
func buildTar(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:       e.name,
			Typeflag:   e.typ,
			Linkname:   e.link,
			Mode:       e.mode,
			Uid:        e.uid,
			Gid:        e.gid,
			ModTime:    e.mtime,
			PAXRecords: e.pax,
			Devmajor:   e.major,
			Devminor:   e.minor,
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if hdr.ModTime.IsZero() {
			hdr.ModTime = testTime
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("writing test tar header %s: %v", e.name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// manifestJSON returns an image manifest; labels alternate name, value.
func manifestJSON(name string, labels ...string) string {
	type label struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	m := map[string]any{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name}
	var ls []label
	for i := 0; i+1 < len(labels); i += 2 {
		ls = append(ls, label{labels[i], labels[i+1]})
	}
	if ls != nil {
		m["labels"] = ls
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// buildACI returns a plain-tar ACI: the manifest, rootfs/ and entries.
func buildACI(t testing.TB, manifest string, entries ...ent) []byte {
	t.Helper()
	all := append([]ent{
		{name: "manifest", body: manifest},
		{name: "rootfs/", typ: tar.TypeDir},
	}, entries...)
	return buildTar(t, all...)
}

// simpleACI is a small valid image.
func simpleACI(t testing.TB, name string, labels ...string) []byte {
	return buildACI(t, manifestJSON(name, labels...),
		ent{name: "rootfs/etc/", typ: tar.TypeDir},
		ent{name: "rootfs/etc/hostname", body: name + "\n"},
	)
}

func compress(t *testing.T, format string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch format {
	case "tar":
		return data
	case "gzip":
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "xz":
		xw, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		xw.Write(data)
		if err := xw.Close(); err != nil {
			t.Fatal(err)
		}
	case "bzip2":
		// The standard library only decompresses bzip2.
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("compressing with bzip2 (Debian package bzip2): %v", err)
		}
		return out
	default:
		t.Fatalf("unknown format %s", format)
	}
	return buf.Bytes()
}

func idOf(tarData []byte) string {
	sum := sha512.Sum512(tarData)
	return "sha512-" + hex.EncodeToString(sum[:])[:64]
}

func openStore(t *testing.T) *Store {
	t.Helper()
	requireRoot(t)
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// podctl decompresses xz through podctl-fetch; here, in the test.
	s.SetXzReader(func(r io.Reader) (io.ReadCloser, error) {
		xr, err := xz.NewReader(r)
		return io.NopCloser(xr), err
	})
	return s
}

func mustImport(t *testing.T, s *Store, data []byte) Image {
	t.Helper()
	img, err := s.Import(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return img
}

// dirNames lists a folder, sorted; a missing folder is empty.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := readDirNames(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// indexIDs returns every ID in the index, half-removed images included.
func indexIDs(t *testing.T, s *Store) []string {
	t.Helper()
	var ids []string
	err := s.view(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketImages, bucketManifests} {
			if bk := tx.Bucket(b); bk != nil {
				bk.ForEach(func(k, _ []byte) error { ids = append(ids, string(b)+":"+string(k)); return nil })
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// assertEmpty checks that the store holds nothing: no blob, tree, temporary
// file or index entry.
func assertEmpty(t *testing.T, s *Store) {
	t.Helper()
	for _, d := range []string{s.blobDir(), s.treeDir(), s.tmpDir()} {
		if names := dirNames(t, d); len(names) != 0 {
			t.Errorf("%s holds %v, want nothing", d, names)
		}
	}
	if ids := indexIDs(t, s); len(ids) != 0 {
		t.Errorf("index holds %v, want nothing", ids)
	}
}

func TestOpenCreatesLayout(t *testing.T) {
	s := openStore(t)
	for _, d := range []string{s.dir, s.blobDir(), s.treeDir(), s.tmpDir()} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a 0700 folder", d, fi.Mode())
		}
	}
	if _, err := os.Stat(s.indexPath()); err != nil {
		t.Errorf("index not created: %v", err)
	}
	imgs, err := s.List()
	if err != nil || len(imgs) != 0 {
		t.Errorf("List of a new store = %v, %v; want nothing", imgs, err)
	}
	// Opening again keeps what is there.
	img := mustImport(t, s, simpleACI(t, "example.com/a"))
	s2, err := Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s2.Resolve(img.ID); err != nil || id != img.ID {
		t.Errorf("after reopening, Resolve = %q, %v", id, err)
	}
}

func TestOpenCleansTmpWhenIdle(t *testing.T) {
	s := openStore(t)
	other, err := Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(s.tmpDir(), "tree-crashed")
	if err := os.MkdirAll(filepath.Join(junk, "rootfs", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}

	// Another user holds the store: the junk may be its work, so it stays.
	unlock, err := other.LockShared()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(junk); err != nil {
		t.Errorf("Open removed tmp/ while the store was in use: %v", err)
	}
	unlock()

	if _, err := Open(s.dir); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ after Open = %v, want it cleaned", names)
	}
}
