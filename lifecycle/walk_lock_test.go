package lifecycle

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"podctl/internal/flock"
)

// runPodT makes a pod in run/, exited (its lock free), and returns it
// closed: its UUID.
func runPodT(t *testing.T, d string) string {
	t.Helper()
	p := mustNewPod(t, d)
	if err := p.ToRun(); err != nil {
		t.Fatal(err)
	}
	id := p.UUID
	p.Close()
	return id
}

// lockOf opens pod id's directory in run/ on a descriptor of its own and
// tries its lock there without waiting; ok is whether it was taken. The
// descriptor stays open (and the lock held) until the test ends.
func lockOf(t *testing.T, d, id string, kind flock.Kind) (ok bool) {
	t.Helper()
	fd, err := unix.Open(folderPath(d, runDir)+"/"+id, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	err = flock.TryLockFD(fd, kind)
	if err != nil && !errors.Is(err, flock.ErrLocked) {
		t.Fatal(err)
	}
	return err == nil
}

// TestWalkPodsMarkingLocksExitedPods checks that a marking walk passes an
// exited pod of run/ with its exclusive lock taken, a running one and one
// of an unknown layout unlocked with their states as a plain walk reads
// them, and leaves every lock free once the walk is over.
func TestWalkPodsMarkingLocksExitedPods(t *testing.T) {
	d := newDataDir(t)
	exited, running, newer := runPodT(t, d), runPodT(t, d), runPodT(t, d)
	if !lockOf(t, d, running, flock.Exclusive) {
		t.Fatal("cannot hold the running pod's lock")
	}
	q := openUUID(t, d, newer)
	writePodFile(t, q, FileLayout, []byte(`{"layout":2,"written_by":"podctl 0.9.0"}`))
	q.Close()

	var mu sync.Mutex
	seen := map[string]bool{}
	err := WalkPodsMarking(d, IncludeAllDirs, func(_ int, p *Pod) {
		mu.Lock()
		seen[p.UUID] = true
		mu.Unlock()
		switch p.UUID {
		case exited:
			if !p.Locked() || p.State() != Exited {
				t.Errorf("exited pod: locked %v, state %s; want locked, exited", p.Locked(), p.State())
			}
			if lockOf(t, d, exited, flock.Shared) {
				t.Error("the exited pod's lock is not held during the walk")
			}
			if err := p.TryExclusiveLock(); err != nil {
				t.Errorf("TryExclusiveLock of a pod passed locked: %v", err)
			}
			if err := p.ToExitedGarbage(); err != nil {
				t.Errorf("marking the pod passed locked: %v", err)
			}
		case running:
			if p.Locked() || p.State() != Running {
				t.Errorf("running pod: locked %v, state %s; want unlocked, running", p.Locked(), p.State())
			}
		case newer:
			if p.Locked() || p.State() != Exited {
				t.Errorf("pod of layout 2: locked %v, state %s; want unlocked, exited", p.Locked(), p.State())
			}
			if err := p.TryExclusiveLock(); err == nil {
				t.Error("a pod of layout 2 was locked")
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("walked %d pods, want 3", len(seen))
	}
	if s := stateOfUUID(t, d, exited); s != ExitedGarbage {
		t.Fatalf("the marked pod is %s, want exited-garbage", s)
	}
	if !lockOf(t, d, newer, flock.Exclusive) {
		t.Fatal("the walk left a lock of the pod of layout 2 held")
	}
}

// TestWalkPodsReadingHoldsSharedLock checks that a reading walk tells an
// exited pod from a running one and holds the exited pod's shared lock
// only while the pod is looked at.
func TestWalkPodsReadingHoldsSharedLock(t *testing.T) {
	d := newDataDir(t)
	exited, running := runPodT(t, d), runPodT(t, d)
	if !lockOf(t, d, running, flock.Exclusive) {
		t.Fatal("cannot hold the running pod's lock")
	}
	states := map[string]State{}
	var mu sync.Mutex
	err := WalkPodsReading(d, IncludeAllDirs, func(_ int, p *Pod) {
		mu.Lock()
		states[p.UUID] = p.State()
		mu.Unlock()
		if p.UUID == exited && lockOf(t, d, exited, flock.Exclusive) {
			t.Error("the exited pod's lock could be taken while it was looked at")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if states[exited] != Exited || states[running] != Running || len(states) != 2 {
		t.Fatalf("states %v; want %s exited, %s running", states, exited, running)
	}
	if !lockOf(t, d, exited, flock.Exclusive) {
		t.Fatal("the reading walk left the exited pod's lock held")
	}
}

// TestListedInodeCheck checks the walk's listing (names with their inode
// numbers, as stat gives them) and the check of a pod's place made from
// it: a pod whose name was given to another folder since is not there.
func TestListedInodeCheck(t *testing.T) {
	d := newDataDir(t)
	id := runPodT(t, d)
	all, folders, err := listPods(d, IncludeRunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer folders.close()
	if len(all) != 1 || all[0].id != id {
		t.Fatalf("listed %v, want the pod %s", all, id)
	}
	var st unix.Stat_t
	path := folderPath(d, runDir) + "/" + id
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if all[0].ino != st.Ino {
		t.Fatalf("listed inode %d, stat says %d", all[0].ino, st.Ino)
	}
	p, err := openListedPod(d, runDir, folders[runDir], id, all[0].ino, probeLock)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.checkStillThere(); err != nil {
		t.Fatalf("the pod, where it was listed: %v", err)
	}
	// Moved away, another folder put under its name.
	if err := os.Rename(path, path+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.checkStillThere(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a pod whose name names another folder now: %v, want ErrNotExist", err)
	}
	// A listed inode that is not the pod's (a mount point's listing gives
	// the one below it): the open folder decides.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".away", path); err != nil {
		t.Fatal(err)
	}
	q, err := openListedPod(d, runDir, folders[runDir], id, all[0].ino+1, probeLock)
	if err != nil {
		t.Fatalf("a pod listed with another inode: %v", err)
	}
	q.Close()
}

// FuzzParseDirents feeds parseDirents anything: it must not panic, and
// every name it gives comes from the buffer.
func FuzzParseDirents(f *testing.F) {
	rec := func(ino uint64, name string) []byte {
		n := 19 + len(name) + 1
		n = (n + 7) &^ 7
		b := make([]byte, n)
		binary.NativeEndian.PutUint64(b, ino)
		binary.NativeEndian.PutUint16(b[16:], uint16(n))
		copy(b[19:], name)
		return b
	}
	f.Add(append(append(rec(1, "."), rec(2, "..")...), rec(3, "0f0f0f0f-0000-4000-8000-000000000000")...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range parseDirents(b, nil) {
			if e.name == "." || e.name == ".." || strings.IndexByte(e.name, 0) >= 0 || !strings.Contains(string(b), e.name) {
				t.Fatalf("entry %q from %q", e.name, b)
			}
		}
	})
}
