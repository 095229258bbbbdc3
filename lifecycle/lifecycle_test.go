package lifecycle

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// In helper mode the test binary stands in for a stage1: it keeps the pod's
// lock descriptor (fd 3) open until its stdin closes.
func TestMain(m *testing.M) {
	if os.Getenv("LIFECYCLE_TEST_HOLD") == "1" {
		os.Stdout.WriteString("holding\n")
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newDataDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := Init(d); err != nil {
		t.Fatal(err)
	}
	return d
}

func mustNewPod(t *testing.T, d string) *Pod {
	t.Helper()
	p, err := NewPod(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func stateOfUUID(t *testing.T, d, id string) State {
	t.Helper()
	p, err := PodFromUUIDString(d, id)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return p.State()
}

func TestStateNames(t *testing.T) {
	want := []string{"embryo", "preparing", "aborted-prepare", "prepared", "running", "deleting", "exited-deleting", "exited", "exited-garbage", "garbage"}
	for i, s := range States() {
		if s.String() != want[i] {
			t.Errorf("state %d is %q, want %q", i, s, want[i])
		}
		back, err := ParseState(want[i])
		if err != nil || back != s {
			t.Errorf("ParseState(%q) = %v, %v", want[i], back, err)
		}
		if strings.ContainsAny(s.String(), " \t_") {
			t.Errorf("state %q is not one word", s)
		}
	}
	// The spellings of older versions still read, as today's state.
	for old, want := range map[string]State{"exited garbage": ExitedGarbage, "aborted prepare": AbortedPrepare, "exited deleting": ExitedDeleting, "exited_garbage": ExitedGarbage} {
		if got, err := ParseState(old); err != nil || got != want {
			t.Errorf("ParseState(%q) = %v, %v, want %v", old, got, err, want)
		}
	}
	if _, err := ParseState("sleeping"); err == nil {
		t.Error("ParseState(sleeping) succeeded")
	}
}

func TestPrepareRunExitCollect(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	if p.State() != Preparing {
		t.Fatalf("new pod is %s, want preparing", p.State())
	}
	if !strings.Contains(p.Path(), "/pods/prepare/") {
		t.Fatalf("new pod at %s, want in prepare/", p.Path())
	}
	// Another process sees it preparing while the creator holds the lock.
	if s := stateOfUUID(t, d, p.UUID); s != Preparing {
		t.Fatalf("others see %s, want preparing", s)
	}
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	if s := stateOfUUID(t, d, p.UUID); s != Prepared {
		t.Fatalf("after ToPrepared: %s", s)
	}

	q, err := PodFromUUIDString(d, p.UUID)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.TryExclusiveLock(); err != nil {
		t.Fatal(err)
	}
	if err := q.ToRun(); err != nil {
		t.Fatal(err)
	}
	// Hand the lock to a "stage1" process, then let go of ours.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LIFECYCLE_TEST_HOLD=1")
	cmd.ExtraFiles = []*os.File{q.LockFile()}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if s := stateOfUUID(t, d, p.UUID); s != Running {
		t.Fatalf("with stage1 holding the lock: %s, want running", s)
	}
	stdin.Close()
	cmd.Wait()
	if s := stateOfUUID(t, d, p.UUID); s != Exited {
		t.Fatalf("after stage1 exited: %s, want exited", s)
	}

	r, err := PodFromUUIDString(d, p.UUID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.TryExclusiveLock(); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if err := r.ToExitedGarbage(); err != nil {
		t.Fatal(err)
	}
	marked, err := r.GCMarkedTime()
	if err != nil || marked.Before(before) {
		t.Fatalf("gc-marked time %v, %v", marked, err)
	}
	if err := r.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := PodFromUUIDString(d, p.UUID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed pod still found: %v", err)
	}
}

func TestRefusedTransitions(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	// A preparing pod cannot be marked exited.
	err := p.ToExitedGarbage()
	var te *TransitionError
	if !errors.As(err, &te) || !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("preparing -> exited garbage: got %v", err)
	}
	if te.From != Preparing || te.To != ExitedGarbage {
		t.Fatalf("error names %s -> %s", te.From, te.To)
	}
	if err := p.Remove(); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("remove of preparing pod: %v", err)
	}
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	// Unlocked now: no moves without the lock.
	if err := p.ToRun(); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("ToRun without lock: %v", err)
	}
	q, _ := PodFromUUIDString(d, p.UUID)
	defer q.Close()
	if err := q.TryExclusiveLock(); err != nil {
		t.Fatal(err)
	}
	if err := q.ToExitedGarbage(); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("prepared -> exited garbage: %v", err)
	}
	if err := q.ToRun(); err != nil {
		t.Fatal(err)
	}
	// A running pod held by another open file is busy to everyone else.
	r, _ := PodFromUUIDString(d, p.UUID)
	defer r.Close()
	if r.State() != Running {
		t.Fatalf("state %s, want running", r.State())
	}
	if err := r.TryExclusiveLock(); !errors.Is(err, ErrBusy) {
		t.Fatalf("locking a running pod: %v", err)
	}
	if err := q.ToGarbage(); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("running -> garbage: %v", err)
	}
}

func TestAbortedPrepareAndGarbage(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	id := p.UUID
	p.Close() // the creator dies half way
	q, err := PodFromUUIDString(d, id)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.State() != AbortedPrepare {
		t.Fatalf("state %s, want aborted-prepare", q.State())
	}
	if err := q.TryExclusiveLock(); err != nil {
		t.Fatal(err)
	}
	if err := q.ToGarbage(); err != nil {
		t.Fatal(err)
	}
	if s := stateOfUUID(t, d, id); s != Deleting {
		t.Fatalf("while we hold it in garbage/: %s, want deleting", s)
	}
	q.Unlock()
	if s := stateOfUUID(t, d, id); s != Garbage {
		t.Fatalf("state %s, want garbage", s)
	}
}

func TestLockAfterMoveIsRefused(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	p.ToPrepared()
	stale, _ := PodFromUUIDString(d, p.UUID)
	defer stale.Close()
	mover, _ := PodFromUUIDString(d, p.UUID)
	defer mover.Close()
	mover.TryExclusiveLock()
	mover.ToGarbage()
	mover.Unlock()
	// stale was opened in prepared/ and the pod left: locking must notice.
	if err := stale.TryExclusiveLock(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lock of a moved pod: %v", err)
	}
}

func TestLookupByPrefix(t *testing.T) {
	d := newDataDir(t)
	var ids []string
	for i := 0; i < 20; i++ {
		p := mustNewPod(t, d)
		ids = append(ids, p.UUID)
	}
	p, err := PodFromUUIDString(d, strings.ToUpper(ids[3][:13]))
	if err != nil {
		t.Fatal(err)
	}
	if p.UUID != ids[3] {
		t.Fatalf("prefix found %s, want %s", p.UUID, ids[3])
	}
	p.Close()
	if _, err := PodFromUUIDString(d, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty uuid: %v", err)
	}
	if _, err := PodFromUUIDString(d, "zzzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown uuid: %v", err)
	}
	// With 20 random UUIDs, some share a first hex digit by pigeonhole
	// unless all 16 digits... find one that does.
	first := map[byte]int{}
	for _, id := range ids {
		first[id[0]]++
	}
	for c, n := range first {
		if n > 1 {
			if _, err := PodFromUUIDString(d, string(c)); !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("ambiguous prefix %c: %v", c, err)
			}
			return
		}
	}
	t.Fatal("no shared first digit among 20 UUIDs")
}

func TestWalkPodsMask(t *testing.T) {
	d := newDataDir(t)
	a := mustNewPod(t, d) // preparing
	b := mustNewPod(t, d)
	b.ToPrepared()
	c := mustNewPod(t, d)
	c.ToPrepared()
	c2, _ := PodFromUUIDString(d, c.UUID)
	c2.TryExclusiveLock()
	c2.ToGarbage()
	c2.Close()
	count := func(mask IncludeMask) map[string]State {
		got := map[string]State{}
		if err := WalkPods(d, mask, func(p *Pod) { got[p.UUID] = p.State() }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	most := count(IncludeMostDirs)
	if len(most) != 2 || most[a.UUID] != Preparing || most[b.UUID] != Prepared {
		t.Fatalf("IncludeMostDirs: %v", most)
	}
	all := count(IncludeAllDirs)
	if len(all) != 3 || all[c.UUID] != Garbage {
		t.Fatalf("IncludeAllDirs: %v", all)
	}
	if g := count(IncludeGarbageDir); len(g) != 1 {
		t.Fatalf("IncludeGarbageDir: %v", g)
	}
}

func TestWaitFinishedAndAppStatus(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	if err := os.MkdirAll(filepath.Join(p.Path(), AppDir("web")), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.ToRun(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppExitCode("web"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("exit code before the app ended: %v", err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		time.Sleep(100 * time.Millisecond)
		p.WriteAppStatus("web", &AppStatus{ExitCode: 7, StartedAt: time.Now(), FinishedAt: time.Now()})
		p.Close()
	}()
	// The cleanup closes p again: not before the goroutine is done with it.
	defer func() { <-ended }()
	q, _ := PodFromUUIDString(d, p.UUID)
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done, err := q.WaitFinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done.Close()
	if done.State() != Exited {
		t.Fatalf("state after wait: %s", done.State())
	}
	code, err := done.AppExitCode("web")
	if err != nil || code != 7 {
		t.Fatalf("exit code %d, %v", code, err)
	}
}

func TestWaitReadyFailsWhenPodExits(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	p.ToRun()
	q, _ := PodFromUUIDString(d, p.UUID)
	defer q.Close()
	ended := make(chan struct{})
	go func() { defer close(ended); time.Sleep(50 * time.Millisecond); p.Close() }()
	defer func() { <-ended }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.WaitReady(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("WaitReady of a pod that exited unready: %v", err)
	}
}

func TestStaleEmbryoIsCollectable(t *testing.T) {
	d := newDataDir(t)
	id := "21111111-2222-4333-8444-555555555555"
	path := filepath.Join(d, "pods", "embryo", id)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	var p *Pod
	WalkPods(d, IncludeEmbryoDir, func(q *Pod) {
		if q.IsStaleEmbryo(time.Now()) {
			t.Error("a fresh embryo is not stale")
		}
		if !q.IsStaleEmbryo(time.Now().Add(2 * time.Minute)) {
			t.Error("an unlocked embryo two minutes old is stale")
		}
		if err := q.TryExclusiveLock(); err != nil {
			t.Fatal(err)
		}
		if err := q.ToGarbage(); err != nil {
			t.Fatalf("embryo -> garbage: %v", err)
		}
		if err := q.Remove(); err != nil {
			t.Fatal(err)
		}
		p = q
	})
	if p == nil {
		t.Fatal("walk did not see the embryo")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("embryo still there: %v", err)
	}
}

func TestWalkPodsConcurrentlyKeepsOrder(t *testing.T) {
	d := newDataDir(t)
	var want []string
	for i := 0; i < 50; i++ {
		p := mustNewPod(t, d)
		p.ToPrepared()
	}
	WalkPods(d, IncludeAllDirs, func(p *Pod) { want = append(want, p.UUID) })
	got := make([]string, len(want))
	err := WalkPodsConcurrently(d, IncludeAllDirs, func(i int, p *Pod) { got[i] = p.UUID })
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pod %d is %s, want %s", i, got[i], want[i])
		}
	}
}

// Exists finds a pod in every folder of its life, and none once it is
// removed (a private users' reservation is freed then).
func TestExists(t *testing.T) {
	d, p := exitedPodT(t)
	exists := func(id string, want bool) {
		t.Helper()
		if got, err := Exists(d, id); err != nil || got != want {
			t.Fatalf("Exists(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	exists(mustNewPod(t, d).UUID, true)
	exists(p.UUID, true)
	if err := p.TryExclusiveLock(); err != nil {
		t.Fatal(err)
	}
	if err := p.ToExitedGarbage(); err != nil {
		t.Fatal(err)
	}
	exists(p.UUID, true)
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	exists(p.UUID, false)
	exists("0f8fad5b-d9cb-469f-a165-70867728950e", false)
}

// A FIFO where a pod file should be (the pod's systemd, with private
// users, writes its apps' folders) is refused at once: no read of the
// pod's files waits on a writer or takes what one feeds it.
func TestReadFileRefusesFIFO(t *testing.T) {
	p := mustNewPod(t, newDataDir(t))
	if err := unix.Mkfifo(p.FilePath(FileResult), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := p.ReadFile(FileResult); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("ReadFile of a FIFO: %v", err)
		}
		checkOneLine(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFile of a FIFO without a writer still waits after 5s")
	}
}
