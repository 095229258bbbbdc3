package store

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestTreeRendersOnce(t *testing.T) {
	s := openStore(t)
	img := mustImport(t, s, buildACI(t, manifestJSON("example.com/tree"),
		ent{name: "rootfs/etc/", typ: tar.TypeDir},
		ent{name: "rootfs/etc/os-release", body: "ID=test\n"},
		ent{name: "rootfs/bin/sh", typ: tar.TypeSymlink, link: "busybox"},
	))
	if names := dirNames(t, s.treeDir()); len(names) != 0 {
		t.Fatalf("trees/ before Tree = %v; import renders nothing", names)
	}
	p, err := s.Tree(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.treeDir(), img.ID, "rootfs"); p != want {
		t.Errorf("Tree = %s, want %s", p, want)
	}
	if got, err := os.ReadFile(filepath.Join(p, "etc/os-release")); err != nil || string(got) != "ID=test\n" {
		t.Errorf("etc/os-release = %q, %v", got, err)
	}
	_, raw, err := s.Manifest(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(s.treeDir(), img.ID, "manifest")); err != nil || string(got) != string(raw) {
		t.Errorf("tree manifest = %q, %v; want %q", got, err, raw)
	}

	// A second call finds the tree and leaves it alone: a file added to it
	// stays, and the folder is the same inode.
	marker := filepath.Join(p, "marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p)
	p2, err := s.Tree(img.ID)
	if err != nil || p2 != p {
		t.Fatalf("second Tree = %s, %v; want %s", p2, err, p)
	}
	after, _ := os.Stat(p)
	if _, err := os.Stat(marker); err != nil || !os.SameFile(before, after) {
		t.Errorf("second Tree rendered again (marker: %v)", err)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ left with %v", names)
	}
}

func TestTreeConcurrent(t *testing.T) {
	s := openStore(t)
	var entries []ent
	for i := 0; i < 200; i++ {
		entries = append(entries, ent{name: "rootfs/f" + string(rune('a'+i%26)) + "/" + string(rune('a'+i/26)), body: "data"})
	}
	img := mustImport(t, s, buildACI(t, manifestJSON("example.com/race"), entries...))

	// Separate Stores, as separate processes would have.
	const n = 6
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := Open(s.dir)
			if err != nil {
				errs[i] = err
				return
			}
			paths[i], errs[i] = st.Tree(img.ID)
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Errorf("caller %d: %s, %v; want %s", i, paths[i], errs[i], paths[0])
		}
	}
	if got, err := os.ReadFile(filepath.Join(paths[0], "fz/g")); err != nil || string(got) != "data" {
		t.Errorf("fz/g = %q, %v", got, err)
	}
	if trees := dirNames(t, s.treeDir()); len(trees) != 1 || trees[0] != img.ID {
		t.Errorf("trees/ = %v, want only %s", trees, img.ID)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ left with %v: the losers must discard their copies", names)
	}
}

func TestTreeUnknown(t *testing.T) {
	s := openStore(t)
	_, err := s.Tree("sha512-" + strings.Repeat("ab", 32))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Tree of an unknown ID = %v, want ErrNotFound", err)
	}
	if _, err := s.Tree("sha512-../../etc"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Tree of a malformed ID = %v, want ErrInvalid", err)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ left with %v", names)
	}
}
