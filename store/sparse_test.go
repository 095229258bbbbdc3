package store

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// frag is a run of data in a sparse test file.
type frag struct {
	off  int64
	data string
}

// tarBlock returns a ustar header block. archive/tar reads GNU sparse
// files but cannot write them, so the tests write them block by block.
func tarBlock(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", testTime.Unix()))
	b[156] = typ
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// padBlock pads b with zeros to a whole number of 512-byte blocks.
func padBlock(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// paxRecord returns one PAX record, "LEN KEY=VALUE\n", LEN counting itself.
func paxRecord(k, v string) string {
	body := " " + k + "=" + v + "\n"
	n := len(body) + 1
	for len(strconv.Itoa(n))+len(body) != n {
		n++
	}
	return strconv.Itoa(n) + body
}

// sparseEntry returns a GNU sparse 1.0 file as GNU tar --sparse
// --format=posix writes it: a PAX header with the file's name and whole
// size, then a regular entry holding the sparse map (decimal lines: the
// count, then offset and length of each run of data) and the data.
func sparseEntry(name string, size int64, frags ...frag) []byte {
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", strconv.FormatInt(size, 10))
	out := append(tarBlock("PaxHeaders.0/sparse", tar.TypeXHeader, int64(len(recs))), padBlock([]byte(recs))...)

	sparseMap := fmt.Sprintf("%d\n", len(frags))
	var data []byte
	for _, f := range frags {
		sparseMap += fmt.Sprintf("%d\n%d\n", f.off, len(f.data))
		data = append(data, f.data...)
	}
	body := append(padBlock([]byte(sparseMap)), data...)
	out = append(out, tarBlock("GNUSparseFile.0/sparse", tar.TypeReg, int64(len(body)))...)
	return append(out, padBlock(body)...)
}

// sparseACI returns an ACI holding rootfs/sparse, a sparse file of size
// bytes with data at frags, followed by an ordinary file rootfs/after.
func sparseACI(t testing.TB, size int64, frags ...frag) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(hdr *tar.Header, body string) {
		hdr.ModTime, hdr.Mode, hdr.Size = testTime, 0o644, int64(len(body))
		if hdr.Typeflag == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	write(&tar.Header{Name: "manifest", Typeflag: tar.TypeReg}, manifestJSON("example.com/sparse"))
	write(&tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir}, "")
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	buf.Write(sparseEntry("rootfs/sparse", size, frags...))
	write(&tar.Header{Name: "rootfs/after", Typeflag: tar.TypeReg}, "after\n")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// diskUse is what a file takes on disk, from st_blocks.
func diskUse(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// readAt reads n bytes of path at off.
func readAt(t *testing.T, path string, off int64, n int) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return string(b)
}

// TestSparseWriterContent writes the same data in pieces of every size
// through a sparseWriter and reads back what it wrote.
func TestSparseWriterContent(t *testing.T) {
	data := make([]byte, 5*holeBlock+123)
	copy(data[10:], "start")
	copy(data[2*holeBlock-3:], "across a block boundary")
	copy(data[4*holeBlock+7:], "late")
	withTail := append(append([]byte{}, data...), make([]byte, 3*holeBlock)...) // ends in a hole
	for _, want := range [][]byte{data, withTail, make([]byte, 3*holeBlock), nil} {
		for _, piece := range []int{1, 100, holeBlock - 1, holeBlock, holeBlock + 1, 1 << 20} {
			path := filepath.Join(t.TempDir(), "f")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := newSparseWriter(f)
			for rest := want; len(rest) > 0; {
				n := min(piece, len(rest))
				if m, err := w.Write(rest[:n]); err != nil || m != n {
					t.Fatalf("Write = %d, %v; want %d", m, err, n)
				}
				rest = rest[n:]
			}
			if err := w.finish(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes written in pieces of %d: read back %d bytes that differ", len(want), piece, len(got))
			}
		}
	}
}

// TestSparseWriterLeavesHoles checks that zeros take no disk.
func TestSparseWriterLeavesHoles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := newSparseWriter(f)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		if i == 32 {
			w.Write([]byte("data in the middle"))
		}
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if want := int64(64<<20 + len("data in the middle")); fi.Size() != want {
		t.Fatalf("size %d, want %d", fi.Size(), want)
	}
	if use := diskUse(t, path); use > 64<<10 {
		t.Errorf("64 MiB of zeros take %d bytes of disk, want a few blocks", use)
	}
	if got := readAt(t, path, 32<<20, 18); got != "data in the middle" {
		t.Errorf("read %q in the middle", got)
	}
}

// A sparse entry is rendered with holes: its size is whole, its disk use
// is that of its data, and its data is where the sparse map puts it.
func TestTreeRendersSparseEntries(t *testing.T) {
	s := openStore(t)
	const size = 1 << 30
	aci := sparseACI(t, size, frag{0, "head"}, frag{300 << 20, "middle"}, frag{size - 4, "tail"})
	img := mustImport(t, s, aci)
	rootfs, err := s.Tree(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(rootfs, "sparse")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size {
		t.Errorf("size %d, want %d", fi.Size(), size)
	}
	if use := diskUse(t, path); use > 1<<20 {
		t.Errorf("a 1 GiB sparse file with 14 bytes of data takes %d bytes of disk", use)
	}
	for off, want := range map[int64]string{0: "head", 300 << 20: "middle", size - 4: "tail", 100 << 20: "\x00\x00\x00\x00"} {
		if got := readAt(t, path, off, len(want)); got != want {
			t.Errorf("at %d: %q, want %q", off, got, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, "after")); err != nil || string(b) != "after\n" {
		t.Errorf("the entry after the sparse one reads %q, %v", b, err)
	}
	if img.Size >= 1<<20 {
		t.Errorf("the blob counts %d bytes: the sparse file's holes were stored", img.Size)
	}
}

// A sparse file counts its whole size: a 1 TiB hole in a 3-kilobyte image
// is refused under the default limit, and nothing is left.
func TestSparseEntryOverLimit(t *testing.T) {
	s := openStore(t)
	aci := sparseACI(t, 1<<40, frag{1<<40 - 5, "tail"})
	_, err := s.Import(bytes.NewReader(aci))
	var le *LimitError
	if !errors.As(err, &le) || le.Entries || le.Limit != DefaultMaxSize {
		t.Fatalf("Import of a 1 TiB sparse file: %v, want a size LimitError at %d", err, int64(DefaultMaxSize))
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%v does not wrap ErrInvalid", err)
	}
	assertEmpty(t, s)
}
