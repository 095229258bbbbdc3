package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"podctl/store"
)

func TestSplitNameTag(t *testing.T) {
	for in, want := range map[string][2]string{
		"busybox:1.36":                   {"busybox", "1.36"},
		"docker.io/library/busybox:1.36": {"docker.io/library/busybox", "1.36"},
		"localhost:5000/app":             {"localhost:5000/app", ""},
		"localhost:5000/app:v2":          {"localhost:5000/app", "v2"},
	} {
		if n, tag := splitNameTag(in); n != want[0] || tag != want[1] {
			t.Errorf("splitNameTag(%q) = %q, %q", in, n, tag)
		}
	}
	if b := baseName("/x/busybox.oci.tar"); b != "busybox" {
		t.Errorf("baseName: %q", b)
	}
}

func TestLoadImageRefusesOtherTransports(t *testing.T) {
	for _, ref := range []string{"http://example.com/busybox", "dir:/tmp/x", "busybox"} {
		_, cleanup, err := loadImage(nil, ref, store.Limits{}, pullFlags{})
		cleanup()
		if err == nil {
			t.Fatalf("%s accepted", ref)
		}
	}
}

func archiveOf(t testing.TB, hdrs ...tar.Header) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		h := h
		body := []byte("x")
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return b.Bytes()
}

// FuzzUnpackOCIArchive unpacks arbitrary bytes as an OCI archive: never a
// panic, never a file outside the folder it unpacks into.
func FuzzUnpackOCIArchive(f *testing.F) {
	f.Add(archiveOf(f, tar.Header{Name: "oci-layout", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "blobs/", Typeflag: tar.TypeDir, Mode: 0o755}, tar.Header{Name: "blobs/sha256/a", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(archiveOf(f, tar.Header{Name: "../outside/x", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(archiveOf(f, tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, tar.Header{Name: "l/x", Typeflag: tar.TypeReg}))
	f.Add(archiveOf(f, tar.Header{Name: "/abs", Typeflag: tar.TypeReg}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		outside, dir := filepath.Join(parent, "outside"), filepath.Join(parent, "dir")
		for _, d := range []string{outside, dir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(parent, "archive.tar")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = unpackOCIArchive(file, dir, store.Limits{MaxSize: 1 << 20, MaxEntries: 100})
		if ents, _ := os.ReadDir(outside); len(ents) > 0 {
			t.Fatalf("unpacked %v outside", ents)
		}
		ents, _ := os.ReadDir(parent)
		if len(ents) != 3 {
			t.Fatalf("the folder around holds %v", ents)
		}
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && !fi.Mode().IsRegular() {
				t.Fatalf("unpacked %s, neither file nor folder", p)
			}
			return nil
		})
	})
}
