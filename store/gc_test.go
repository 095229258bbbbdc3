package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRemove(t *testing.T) {
	s := openStore(t)
	a := mustImport(t, s, simpleACI(t, "example.com/a"))
	b := mustImport(t, s, simpleACI(t, "example.com/b"))
	for _, img := range []Image{a, b} {
		if _, err := s.Tree(img.ID); err != nil {
			t.Fatal(err)
		}
	}

	if err := s.Remove(a.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve after Remove: %v, want ErrNotFound", err)
	}
	if _, err := s.Resolve("example.com/a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve by name after Remove: %v, want ErrNotFound", err)
	}
	if trees := dirNames(t, s.treeDir()); !reflect.DeepEqual(trees, []string{b.ID}) {
		t.Errorf("trees/ = %v, want only %s", trees, b.ID)
	}
	if blobs := dirNames(t, s.blobDir()); len(blobs) != 1 || !strings.HasPrefix(blobs[0], b.ID[7:]) {
		t.Errorf("blobs = %v, want only b's", blobs)
	}
	if ids := indexIDs(t, s); !reflect.DeepEqual(ids, []string{"images:" + b.ID, "manifests:" + b.ID}) {
		t.Errorf("index = %v", ids)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ left with %v", names)
	}
	if err := s.Remove(a.ID, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}

	// keepTree leaves the tree for a pod that still uses it.
	if err := s.Remove(b.ID, true); err != nil {
		t.Fatal(err)
	}
	if trees := dirNames(t, s.treeDir()); !reflect.DeepEqual(trees, []string{b.ID}) {
		t.Errorf("trees/ after Remove with keepTree = %v", trees)
	}
	if imgs, _ := s.List(); len(imgs) != 0 {
		t.Errorf("List = %v, want nothing", imgs)
	}
	// Importing it again finds its tree.
	mustImport(t, s, simpleACI(t, "example.com/b"))
	if p, err := s.Tree(b.ID); err != nil || p != filepath.Join(s.treeDir(), b.ID, "rootfs") {
		t.Errorf("Tree after re-import = %s, %v", p, err)
	}
}

// An image whose blob is gone (a removal cut short after its first step)
// is hidden, and Remove or GC finish the job.
func TestHalfRemovedImage(t *testing.T) {
	s := openStore(t)
	a := mustImport(t, s, simpleACI(t, "example.com/a"))
	b := mustImport(t, s, simpleACI(t, "example.com/b"))
	for _, img := range []Image{a, b} {
		blob := dirNames(t, s.blobDir())
		for _, d := range blob {
			if strings.HasPrefix(d, img.ID[7:]) {
				if err := os.Remove(filepath.Join(s.blobDir(), d)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if imgs, err := s.List(); err != nil || len(imgs) != 0 {
		t.Errorf("List = %v, %v; want half-removed images hidden", imgs, err)
	}
	if _, err := s.Resolve("example.com/a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve of a half-removed image: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Manifest(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Manifest of a half-removed image: %v, want ErrNotFound", err)
	}
	if _, err := s.Tree(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tree of a half-removed image: %v, want ErrNotFound", err)
	}
	if err := s.Remove(a.ID, false); err != nil {
		t.Errorf("Remove of a half-removed image: %v", err)
	}
	removed, err := s.GC(nil, time.Hour, time.Now())
	if err != nil || !reflect.DeepEqual(removed, []string{b.ID}) {
		t.Errorf("GC = %v, %v; want [%s]", removed, err, b.ID)
	}
	assertEmpty(t, s)
}

func TestGC(t *testing.T) {
	s := openStore(t)
	used := mustImport(t, s, simpleACI(t, "example.com/used"))
	old := mustImport(t, s, simpleACI(t, "example.com/old"))
	touched := mustImport(t, s, simpleACI(t, "example.com/touched"))
	for _, img := range []Image{used, old} {
		if _, err := s.Tree(img.ID); err != nil {
			t.Fatal(err)
		}
	}
	// An orphan tree (its image removed with keepTree), a tree still used
	// by a pod although its image is gone, an orphan blob and tmp/ junk.
	orphan := mustImport(t, s, simpleACI(t, "example.com/orphan"))
	podTree := mustImport(t, s, simpleACI(t, "example.com/podtree"))
	for _, img := range []Image{orphan, podTree} {
		if _, err := s.Tree(img.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(img.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	strayBlob := filepath.Join(s.blobDir(), strings.Repeat("e", 128))
	if err := os.WriteFile(strayBlob, []byte("crashed import"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.tmpDir(), "blob-123"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	inUse := map[string]bool{used.ID: true, podTree.ID: true}

	// Within the grace period: only the orphans go, and the tree of old,
	// which no pod uses although its image stays.
	now := time.Now()
	removed, err := s.GC(inUse, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	wantFirst := []string{orphan.ID, old.ID}
	sort.Strings(wantFirst)
	if !reflect.DeepEqual(removed, wantFirst) {
		t.Errorf("first GC removed %v, want %v", removed, wantFirst)
	}
	if _, err := os.Stat(s.treePath(old.ID)); !os.IsNotExist(err) {
		t.Errorf("tree of unused image old still there: %v", err)
	}
	if _, err := os.Stat(strayBlob); !os.IsNotExist(err) {
		t.Errorf("orphan blob still there: %v", err)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ after GC = %v", names)
	}
	if imgs, _ := s.List(); len(imgs) != 3 {
		t.Errorf("List after first GC has %d images, want 3", len(imgs))
	}

	// Later: old has not been used since before the cut-off; touched was
	// used after it; used is in use.
	time.Sleep(20 * time.Millisecond)
	s.touchEvery = 0
	if err := s.Touch(touched.ID); err != nil {
		t.Fatal(err)
	}
	var touchedAt time.Time
	imgs, _ := s.List()
	for _, img := range imgs {
		if img.ID == touched.ID {
			touchedAt = img.LastUsed
		}
	}
	cutoff := old.LastUsed.Add(touchedAt.Sub(old.LastUsed) / 2)
	later := time.Now()
	removed, err = s.GC(inUse, later.Sub(cutoff), later)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, []string{old.ID}) {
		t.Errorf("second GC removed %v, want [%s]", removed, old.ID)
	}
	var ids []string
	imgs, _ = s.List()
	for _, img := range imgs {
		ids = append(ids, img.ID)
	}
	sort.Strings(ids)
	want := []string{used.ID, touched.ID}
	sort.Strings(want)
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("images after GC = %v, want %v", ids, want)
	}
	wantTrees := []string{used.ID, podTree.ID}
	sort.Strings(wantTrees)
	if trees := dirNames(t, s.treeDir()); !reflect.DeepEqual(trees, wantTrees) {
		t.Errorf("trees after GC = %v, want %v", trees, wantTrees)
	}
	if blobs := dirNames(t, s.blobDir()); len(blobs) != 2 {
		t.Errorf("blobs after GC = %v, want 2", blobs)
	}

	// Nothing in use and no grace: everything goes.
	removed, err = s.GC(nil, 0, later.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{used.ID, touched.ID, podTree.ID}
	sort.Strings(want)
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("last GC removed %v, want %v", removed, want)
	}
	assertEmpty(t, s)
}

func TestLocks(t *testing.T) {
	s := openStore(t)
	other, err := Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := s.LockExclusive()
	if err != nil {
		t.Fatal(err)
	}
	// This Store's own operations do not wait for the lock it holds.
	img := mustImport(t, s, simpleACI(t, "example.com/locked"))
	if _, err := s.Tree(img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(map[string]bool{img.ID: true}, 0, time.Now()); err != nil {
		t.Fatal(err)
	}

	// Another user waits for it.
	got := make(chan error, 1)
	go func() {
		u, err := other.LockShared()
		if err == nil {
			err = u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("LockShared returned (%v) while the exclusive lock was held", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LockShared still waiting after the exclusive lock was released")
	}
	if err := unlock(); err != nil {
		t.Errorf("second unlock: %v", err)
	}

	// Holding the shared lock, removal cannot take the exclusive one: it
	// says so instead of deadlocking.
	unlock, err = s.LockShared()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := s.Remove(img.ID, false); err == nil || !strings.Contains(err.Error(), "shared lock") {
		t.Errorf("Remove under a shared hold = %v, want an error about the lock", err)
	}
	if _, err := s.GC(nil, 0, time.Now()); err == nil {
		t.Error("GC under a shared hold succeeded")
	}
	// Shared holders do not exclude each other.
	u2, err := other.LockShared()
	if err != nil {
		t.Fatal(err)
	}
	u2()
}

// TestFullDisk fills a small tmpfs: an import fails cleanly, and removing an
// image still works since it frees the blob before it writes anything.
func TestFullDisk(t *testing.T) {
	requireRoot(t)
	disk := t.TempDir()
	if err := unix.Mount("tmpfs", disk, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mounting a small tmpfs for the test: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(disk, unix.MNT_DETACH) })
	s, err := Open(filepath.Join(disk, "images"))
	if err != nil {
		t.Fatal(err)
	}
	big := buildACI(t, manifestJSON("example.com/big"), ent{name: "rootfs/data", body: strings.Repeat("x", 512<<10)})
	img := mustImport(t, s, big)

	// Fill the disk.
	f, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	other := buildACI(t, manifestJSON("example.com/other"), ent{name: "rootfs/data", body: strings.Repeat("y", 512<<10)})
	if _, err := s.Import(bytes.NewReader(other)); !errors.Is(err, unix.ENOSPC) || errors.Is(err, ErrInvalid) {
		t.Errorf("Import on a full disk = %v, want ENOSPC", err)
	}
	if names := dirNames(t, s.tmpDir()); len(names) != 0 {
		t.Errorf("tmp/ after a failed import = %v", names)
	}

	if err := s.Remove(img.ID, false); err != nil {
		t.Fatalf("Remove on a full disk: %v", err)
	}
	if os.Remove(filepath.Join(disk, "filler")) != nil {
		t.Fatal("removing filler")
	}
	assertEmpty(t, s)
}
