package appexec

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// The exec helper's descriptors beside the error pipe (ErrPipeFD): the
// binary it was executed through, which must not reach the app, and the
// pipe it reads its Spec from, as JSON, until end of file.
const (
	BinaryFD = ErrPipeFD + 1
	SpecFD   = ErrPipeFD + 2
)

// maxSpec bounds the spec the helper reads: a pod's apps are bounded far
// below it.
const maxSpec = 16 << 20

// Main is the exec helper of a native pod's app: podctl-exec, or podctl's
// own helper verb where podctl-exec is not beside podctl. Forked by the
// pod's init into the app's namespaces and cgroups before the app's root
// is ready, it waits for its Spec (none: the app is not started after
// all, and it exits 0), keeps in its bounding set only what it may
// become, and becomes the app. It returns only on failure, with its exit
// status, having said why on the error pipe.
func Main() int {
	// The capabilities' bounding set and all that Exec sets bind a
	// thread, and the app is executed from this one.
	runtime.LockOSThread()
	var st unix.Stat_t
	if unix.Fstat(SpecFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		// Run by hand: no pod's init handed it a spec.
		fmt.Fprintln(os.Stderr, "podctl-exec: this is the exec helper of native pods, which a pod's init runs with the app's spec on descriptor 5; run pods with podctl run")
		return 2
	}
	Init()
	unix.CloseOnExec(BinaryFD)
	f := os.NewFile(SpecFD, "spec")
	b, err := io.ReadAll(io.LimitReader(f, maxSpec+1))
	f.Close()
	switch {
	case err != nil:
		return Fail(fmt.Errorf("reading the app's spec: %w", err))
	case len(b) == 0:
		return 0
	case len(b) > maxSpec:
		return Fail(fmt.Errorf("the app's spec is over %d bytes", maxSpec))
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return Fail(fmt.Errorf("reading the app's spec: %w", err))
	}
	// What the helper may become binds it from here on, as the thread
	// that forked it could not drop it before it set up the root.
	caps, err := s.HelperCapabilities()
	if err == nil {
		err = DropCapabilities(caps)
	}
	if err != nil {
		return Fail(fmt.Errorf("app %s: %w", s.Name, err))
	}
	return Fail(Exec(&s, nil))
}
