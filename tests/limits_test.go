package tests

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// writeGzipBomb writes an ACI whose rootfs/zeros is size zero bytes (a
// multiple of 512), gzip-compressed: 2 GiB make a file of 2 MB. It is
// written as it is made, as concatenated gzip members (which gzip reads as
// one stream): the tar headers, the same compressed MiB of zeros over and
// over, then the rest.
func writeGzipBomb(t *testing.T, path string, size int64) {
	t.Helper()
	gz := func(data []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	var head bytes.Buffer
	tw := tar.NewWriter(&head)
	m := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bomb"}`
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
	// Not closed: the zeros follow the last header, then two end blocks.
	const chunk = 1 << 20
	zeros := gz(make([]byte, chunk))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	w.Write(gz(head.Bytes()))
	rest := size + 1024
	for ; rest >= chunk; rest -= chunk {
		w.Write(zeros)
	}
	w.Write(gz(make([]byte, rest)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// writeSparseACI makes, with GNU tar --sparse, an ACI of busybox whose
// /big is a sparse file of size bytes with "head" at its start and "tail"
// at its end.
func writeSparseACI(t *testing.T, path string, size int64) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"rootfs/bin", "rootfs/etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/sparse",
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],
"app":{"exec":["/bin/busybox","true"],"user":"0","group":"0"}}`
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"manifest": []byte(m), "rootfs/bin/busybox": bb, "rootfs/etc/passwd": []byte("root:x:0:0:root:/:/bin/sh\n"), "rootfs/etc/group": []byte("root:x:0:\n")}
	for p, b := range files {
		if err := os.WriteFile(filepath.Join(dir, p), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	big, err := os.Create(filepath.Join(dir, "rootfs", "big"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = big.WriteAt([]byte("head"), 0)
	if err == nil {
		_, err = big.WriteAt([]byte("tail"), size-4)
	}
	if cerr := big.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tar", "--sparse", "--format=posix", "-C", dir, "-cf", path, "manifest", "rootfs").CombinedOutput()
	if err != nil {
		t.Fatalf("tar --sparse: %v: %s", err, out)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > 8<<20 {
		t.Fatalf("the sparse ACI is not small: %v, %v", fi.Size(), err)
	}
}

// checkRefused checks that podctl failed in one line that names the limit
// and the flag raising it, and that the store holds nothing: no image, no
// blob, no file being written, no tree.
func (e *env) checkRefused(r result, flag string) {
	e.t.Helper()
	if r.code != 254 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 ||
		!strings.Contains(r.stderr, "limit") || !strings.Contains(r.stderr, flag) {
		e.t.Fatalf("want exit 254 and one line naming the limit and %s: %s", flag, r)
	}
	if out := strings.TrimSpace(e.must("image", "list", "--format=json")); out != "[]" {
		e.t.Errorf("image list after a refused image: %s", out)
	}
	for _, d := range []string{"blobs", "tmp", "trees"} {
		var files []string
		filepath.Walk(filepath.Join(e.dir, "images", d), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if len(files) != 0 {
			e.t.Errorf("a refused image left %v", files)
		}
	}
}

// A gzip bomb is refused by fetch and by run, in one line, with nothing
// left; the limit is lowered so that the test takes seconds.
func TestBombRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bomb := filepath.Join(t.TempDir(), "bomb.aci")
	writeGzipBomb(t, bomb, 2<<30)

	r := e.podctl("fetch", "--insecure-options=image", "--max-image-size=64M", bomb)
	e.checkRefused(r, "--max-image-size")
	if !strings.Contains(r.stderr, "64M") {
		t.Errorf("the message does not give the limit: %s", r.stderr)
	}
	r = e.podctl("run", "--stage1=fly", "--insecure-options=image", "--max-image-size=64M", bomb, "--exec", "/bin/true")
	e.checkRefused(r, "--max-image-size")
	if pods := e.list(); len(pods) != 0 {
		t.Errorf("a refused run left pods: %+v", pods)
	}

	// Under a raised limit, a smaller one is stored, and its zeros take no
	// disk in the store.
	small := filepath.Join(t.TempDir(), "small-bomb.aci")
	writeGzipBomb(t, small, 256<<20)
	e.must("fetch", "--insecure-options=image", "--max-image-size=512M", small)
	blobs, _ := filepath.Glob(filepath.Join(e.dir, "images", "blobs", "*", "*"))
	if len(blobs) != 1 {
		t.Fatalf("blobs %v, want one", blobs)
	}
	if use := blocks(t, blobs[0]) * 512; use > 16<<20 {
		t.Errorf("the blob of 256 MiB of zeros takes %d bytes of disk", use)
	}
}

// An image with more entries than the limit is refused, by fetch and by
// image import.
func TestEntryLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	aci := filepath.Join(t.TempDir(), "busybox.aci")
	if err := writeBusyboxACI(aci, "example.com/busybox", nil); err != nil {
		t.Fatal(err)
	}
	e.checkRefused(e.podctl("fetch", "--insecure-options=image", "--max-image-entries=10", aci), "--max-image-entries")

	root := t.TempDir()
	for i := 0; i < 20; i++ {
		os.WriteFile(filepath.Join(root, strconv.Itoa(i)), []byte("x"), 0o644)
	}
	e.checkRefused(e.podctl("image", "import", root, "--name", "example.com/many", "--max-image-entries=10"), "--max-image-entries")
	os.WriteFile(filepath.Join(root, "big"), make([]byte, 2<<20), 0o644)
	e.checkRefused(e.podctl("image", "import", root, "--name", "example.com/many", "--max-image-size=1M"), "--max-image-size")
	e.must("image", "import", root, "--name", "example.com/many")
}

// A sparse entry is rendered sparse: a pod sees the whole file and its
// data, and the tree holds its holes as holes. One with a 1 TiB hole is
// refused under the default limit.
func TestSparseImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const size = 4 << 30
	aci := filepath.Join(t.TempDir(), "sparse.aci")
	writeSparseACI(t, aci, size)
	id := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", aci))

	r := e.podctl("run", "--stage1=fly", id, "--exec", "/bin/busybox", "--", "sh", "-c", "stat -c '%s %b' /big; head -c 4 /big; tail -c 4 /big")
	if want := fmt.Sprintf("%d ", size); r.code != 0 || !strings.HasPrefix(r.stdout, want) || !strings.HasSuffix(strings.TrimSpace(r.stdout), "headtail") {
		t.Fatalf("want %q, the block count, then headtail: %s", want, r)
	}
	inPod, err := strconv.ParseInt(strings.Fields(r.stdout)[1], 10, 64)
	if err != nil || inPod > 2048 {
		t.Errorf("in the pod, /big takes %s blocks, want a few: %v", strings.Fields(r.stdout)[1], err)
	}
	tree := filepath.Join(e.dir, "images", "trees", id, "rootfs", "big")
	if b := blocks(t, tree); b > 2048 {
		t.Errorf("the tree's 4 GiB sparse file takes %d blocks", b)
	}

	e2 := newEnv(t)
	huge := filepath.Join(t.TempDir(), "huge.aci")
	writeSparseACI(t, huge, 1<<40)
	e2.checkRefused(e2.podctl("fetch", "--insecure-options=image", huge), "--max-image-size")
}

// blocks returns the st_blocks of a file.
func blocks(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks
}
