package native

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The init holds the mount namespace of each app it starts, the first
// start's, and passes them to stage1 over the control socket, which
// stage1 takes without waiting, with the binaries the exec helpers were
// started from; later starts keep none.
func TestPassAppMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes mount namespaces and must run as root")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	initEnd, stage1End := os.NewFile(uintptr(fds[0]), "init"), os.NewFile(uintptr(fds[1]), "stage1")
	r := &reaper{waiting: map[int]chan syscall.WaitStatus{}}
	bins := binaries{podctl: openFile(t, "/proc/self/exe"), exec: openFile(t, "/dev/null")}
	r.binaries = func() (binaries, error) { return bins, nil }
	r.keepMounts()
	// Each start on a thread of its own in a new mount namespace, as
	// forkApp's; app a starts twice, and its first start's is kept.
	start := func(app string) string {
		ns := make(chan string)
		go func() {
			// Never given back: the thread ends with the goroutine.
			runtime.LockOSThread()
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				t.Error(err)
				ns <- ""
				return
			}
			r.holdMount(app)
			l, _ := os.Readlink("/proc/thread-self/ns/mnt")
			ns <- l
		}()
		return <-ns
	}
	want := map[string]bool{link(t, int(bins.podctl.Fd())): true, link(t, int(bins.exec.Fd())): true, start("a"): true}
	if again := start("a"); want[again] {
		t.Fatalf("two starts in one mount namespace %s", again)
	}
	want[start("b")] = true
	r.passMounts(initEnd, func(err error) { t.Error(err) }, true)
	if after := start("c"); after == "" || r.mounts != nil {
		t.Errorf("a start after the namespaces were passed keeps one: %v", r.mounts)
	}
	p := &initProc{control: stage1End}
	p.takeAppMounts()
	got := map[string]bool{}
	for _, fd := range p.mounts {
		got[link(t, fd)] = true
	}
	if !maps.Equal(got, want) || len(p.mounts) != 4 {
		t.Errorf("stage1 took %v, want the first of each app's and the binaries: %v", got, want)
	}
	if _, err := bins.podctl.Stat(); err == nil {
		t.Error("the init still holds its binary once it has passed it")
	}
	p.releaseMounts()
	if p.mounts != nil {
		t.Errorf("still held after release: %v", p.mounts)
	}
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// link is what descriptor fd of this process is.
func link(t *testing.T, fd int) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	return l
}
