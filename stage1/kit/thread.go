package kit

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// OnOwnThread runs fn on a thread locked to it, which fn may leave changed
// for good (its namespaces, root or cgroups): the thread ends with fn.
// Never on the process's first thread, which the runtime cannot end and
// parks instead, changed, and whose namespaces /proc/self shows. It
// returns once fn has.
func OnOwnThread(fn func()) {
	onOwnThread(fn, func() bool { return unix.Gettid() == unix.Getpid() })
}

// onOwnThread is OnOwnThread, first telling whether the calling thread is
// the process's first.
func onOwnThread(fn func(), first func() bool) {
	done := make(chan struct{})
	go func() {
		// Never unlocked but on the first thread: the runtime ends the
		// thread with the goroutine.
		runtime.LockOSThread()
		if !first() {
			fn()
			close(done)
			return
		}
		// Held here, so that fn's goroutine runs on another thread, and
		// given back unchanged once fn is done.
		go func() {
			runtime.LockOSThread()
			fn()
			close(done)
		}()
		<-done
		runtime.UnlockOSThread()
	}()
	<-done
}
