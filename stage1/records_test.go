package stage1

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseLocks(t *testing.T) {
	const table = `1: FLOCK  ADVISORY  WRITE 15817 fe:00:9979271 0 EOF
1: -> FLOCK  ADVISORY  WRITE 15900 fe:00:9979271 0 EOF
2: FLOCK  ADVISORY  READ 15901 fe:00:9979271 0 EOF
3: POSIX  ADVISORY  WRITE 15902 fe:00:9979271 0 EOF
4: FLOCK  ADVISORY  WRITE 15903 fe:01:9979271 0 EOF
5: FLOCK  ADVISORY  WRITE 15904 fe:00:997927 0 EOF
6: FLOCK  ADVISORY  WRITE 15905 103:02:9979271 0 EOF
`
	got, err := parseLocks(strings.NewReader(table), unix.Mkdev(0xfe, 0), 9979271)
	if err != nil || !slices.Equal(got, []int{15817}) {
		t.Errorf("holders %v, %v; want [15817]", got, err)
	}
	got, _ = parseLocks(strings.NewReader(table), unix.Mkdev(0x103, 2), 9979271)
	if !slices.Equal(got, []int{15905}) {
		t.Errorf("holders on a device with a large major %v; want [15905]", got)
	}
}

// A thread locked in a mount namespace of its own gets a checker of that
// namespace from HostChecker, not the one cached for the process's. The
// thread is not the process's first, whose namespace /proc/self shows:
// of two goroutines locked to threads at once, one at least is on
// another thread.
func TestHostCheckerPerNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes a mount namespace and must run as root")
	}
	main, err := HostChecker()
	if err != nil {
		t.Fatal(err)
	}
	errFirst := errors.New("on the first thread")
	results := make(chan error, 2)
	hold := make(chan struct{})
	for range 2 {
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == os.Getpid() {
				// Kept from the other goroutine, and given back as it was.
				<-hold
				runtime.UnlockOSThread()
				results <- errFirst
				return
			}
			// Never given back: the thread ends with the goroutine.
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				results <- err
				return
			}
			own, err := HostChecker()
			if err == nil && own == main {
				err = errors.New("a thread in another mount namespace got the process's checker")
			}
			results <- err
		}()
	}
	checked := 0
	for k := 0; k < 2; k++ {
		if k == 1 {
			close(hold)
		}
		switch err := <-results; {
		case err == errFirst:
		case err != nil:
			t.Error(err)
			checked++
		default:
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("neither goroutine ran on a thread other than the first")
	}
}
