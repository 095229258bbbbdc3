package store

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// writeBomb writes to path an ACI followed by size zero bytes (a multiple
// of 512), compressed with format: with inFile, the zeros are the content of
// rootfs/zeros, which declares their size; without, they are padding after
// the archive's end, which no header declares. It is written as it is made,
// as concatenated streams, which gzip, bzip2 and xz all read as one: the tar
// headers, then the same compressed MiB of zeros over and over, then the
// rest. Each piece is compressed once, so the test stays fast under the race
// detector.
func writeBomb(t *testing.T, path, format string, size int64, inFile bool) {
	t.Helper()
	head := simpleACI(t, "example.com/bomb") // ends with the end blocks
	rest := size
	if inFile {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		m := manifestJSON("example.com/bomb")
		for _, h := range []*tar.Header{
			{Name: "manifest", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(m))},
			{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "rootfs/zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: size},
		} {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Name == "manifest" {
				io.WriteString(tw, m)
			}
		}
		// Not closed: the zeros follow the last header, then the two
		// end blocks.
		head, rest = buf.Bytes(), size+1024
	}
	const chunk = 1 << 20
	zeros := compress(t, format, make([]byte, chunk))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	w.Write(compress(t, format, head))
	for ; rest >= chunk; rest -= chunk {
		w.Write(zeros)
	}
	w.Write(compress(t, format, make([]byte, rest)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A compressed bomb is refused once it passes the limit, with nothing left
// in the store; the limit is lowered so that the test runs fast. A smaller
// bomb made the same way imports under the limit: the bombs are sound
// archives, refused for their size alone.
func TestBombsRefused(t *testing.T) {
	for _, format := range []string{"gzip", "bzip2", "xz"} {
		for _, inFile := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/inFile=%v", format, inFile), func(t *testing.T) {
				s := openStore(t)
				const limit = 8 << 20
				s.SetLimits(Limits{MaxSize: limit})
				small := filepath.Join(t.TempDir(), "small.aci")
				writeBomb(t, small, format, 4<<20, inFile)
				data, err := os.ReadFile(small)
				if err != nil {
					t.Fatal(err)
				}
				img := mustImport(t, s, data)
				if _, err := s.Tree(img.ID); err != nil {
					t.Fatal(err)
				}
				if err := s.Remove(img.ID, false); err != nil {
					t.Fatal(err)
				}
				assertEmpty(t, s)

				path := filepath.Join(t.TempDir(), "bomb.aci")
				writeBomb(t, path, format, 2<<30, inFile)
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				_, err = s.Import(f)
				var le *LimitError
				if !errors.As(err, &le) || le.Entries || le.Limit != limit {
					t.Fatalf("Import of a %s bomb: %v, want a size LimitError at %d", format, err, limit)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%v does not wrap ErrInvalid", err)
				}
				assertEmpty(t, s)
			})
		}
	}
}

// countedACI returns an image of n entries in all: the manifest, rootfs/
// and n-2 files, whose tar is exactly as long as the returned size.
func countedACI(t testing.TB, n int) []byte {
	var files []ent
	for i := 0; i < n-2; i++ {
		files = append(files, ent{name: fmt.Sprintf("rootfs/f%d", i), body: "x"})
	}
	return buildACI(t, manifestJSON("example.com/counted"), files...)
}

// The limits are bounds, not one less: an image exactly at them imports and
// renders, one entry or one byte more is refused, and nothing is left.
func TestLimitsAreExact(t *testing.T) {
	aci := countedACI(t, 20)
	size := int64(len(aci))
	for _, c := range []struct {
		name    string
		lim     Limits
		refused *LimitError
	}{
		{"at both limits", Limits{MaxSize: size, MaxEntries: 20}, nil},
		{"one entry too many", Limits{MaxSize: size, MaxEntries: 19}, &LimitError{Entries: true, Limit: 19}},
		{"one byte too many", Limits{MaxSize: size - 1, MaxEntries: 20}, &LimitError{Limit: size - 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t)
			s.SetLimits(c.lim)
			img, err := s.Import(bytes.NewReader(aci))
			if c.refused == nil {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Tree(img.ID); err != nil {
					t.Fatalf("rendering at the limits: %v", err)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) || *le != *c.refused {
				t.Fatalf("Import: %v, want %v", err, c.refused)
			}
			assertEmpty(t, s)
		})
	}
}

// The declared sizes of files count even where the tar stream is short of
// them; a single file declaring more than the limit is refused at once.
func TestDeclaredSizeCounts(t *testing.T) {
	s := openStore(t)
	s.SetLimits(Limits{MaxSize: 1 << 20})
	aci := sparseACI(t, 2<<20, frag{0, "head"})
	_, err := s.Import(bytes.NewReader(aci))
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != 1<<20 {
		t.Fatalf("Import of a 2 MiB sparse file under a 1 MiB limit: %v", err)
	}
	assertEmpty(t, s)
}

// An image imported under raised limits renders under lower ones: its
// record keeps what was accepted. A record without those counts (written
// before they were kept) renders under the store's limits, which the blob
// is counted against again; a refused render leaves no tree.
func TestRenderLimits(t *testing.T) {
	s := openStore(t)
	aci := countedACI(t, 50)
	s.SetLimits(Limits{MaxEntries: 50})
	img := mustImport(t, s, aci)
	s.SetLimits(Limits{MaxEntries: 10})
	if _, err := s.Tree(img.ID); err != nil {
		t.Fatalf("rendering an image imported under raised limits: %v", err)
	}
	if err := s.removeTree(img.ID); err != nil {
		t.Fatal(err)
	}

	err := s.update(func(tx *bolt.Tx) error {
		r, _, err := getRecord(tx, img.ID)
		if err != nil {
			return err
		}
		r.Entries, r.FileSize = 0, 0
		return putRecord(tx, img.ID, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Tree(img.ID)
	var le *LimitError
	if !errors.As(err, &le) || !le.Entries || le.Limit != 10 {
		t.Fatalf("rendering 50 entries under a limit of 10: %v", err)
	}
	for _, dir := range []string{s.treeDir(), s.tmpDir()} {
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("a refused render left %v in %s", names, dir)
		}
	}
	s.SetLimits(Limits{})
	if _, err := s.Tree(img.ID); err != nil {
		t.Fatalf("rendering under the default limits: %v", err)
	}
}

// The size limit applies to the tar stream too, whatever the files
// declare: a long run of padding after the archive's end counts.
func TestStreamSizeCounts(t *testing.T) {
	s := openStore(t)
	aci := append(simpleACI(t, "example.com/padded"), make([]byte, 1<<20)...)
	s.SetLimits(Limits{MaxSize: 512 << 10})
	_, err := s.Import(bytes.NewReader(aci))
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != 512<<10 {
		t.Fatalf("Import of 1 MiB of padding under a 512 KiB limit: %v", err)
	}
	assertEmpty(t, s)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"512": 512, "512M": 512 << 20, "20G": 20 << 30, "20g": 20 << 30, "1T": 1 << 40,
		"16GiB": 16 << 30, "4KB": 4 << 10, " 2E ": 2 << 60,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "0", "1.5G", "10X", "8E", "9223372036854775808"} {
		if n, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, n)
		}
	}
	for n, want := range map[int64]string{16 << 30: "16G", 512 << 20: "512M", 1536 << 20: "1.5G", 100: "100"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseSize(FormatSize(n)); err == nil && back != n {
			t.Errorf("ParseSize(FormatSize(%d)) = %d", n, back)
		}
	}
}
