package appexec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// The exec helper's descriptors beside the error pipe (ErrPipeFD): the
// binary it was executed through, which must not reach the app, and the
// pipe it reads from: its Spec, as JSON on one line, then, once the app's
// root is ready, one byte that says to become the app (specReader).
const (
	BinaryFD = ErrPipeFD + 1
	SpecFD   = ErrPipeFD + 2
)

// Protocol names what a pod's init and podctl's own exec helper verb say
// to each other on the spec pipe (specReader). The init passes it, or
// WireProtocol to podctl-exec, as the helper's last argument; a helper
// that speaks another, such as a podctl-exec left from another release
// beside podctl, refuses to start with one clear line rather than misread
// the spec.
const Protocol = "podctl-exec-protocol/2"

// maxSpec bounds the spec the helper reads: a pod's apps are bounded far
// below it.
const maxSpec = 16 << 20

// Main is podctl's own exec helper verb for a native pod's app, where
// podctl-exec is not beside podctl or the app needs what only it does
// (native's forkHelper). Forked by the
// pod's init into the app's namespaces and cgroups before the app's root
// is ready, it reads its Spec and keeps in its bounding set only what it
// may become while the init sets up the root; then it waits for the word
// to go (none: the app is not started after all, and it exits 0) and
// becomes the app. It returns only on failure, with its exit status,
// having said why on the error pipe. args are its arguments after the
// program's name, which end with the init's Protocol.
func Main(args []string) int {
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
	if err := checkProtocol(args); err != nil {
		return Fail(err)
	}
	f := os.NewFile(SpecFD, "spec")
	defer f.Close()
	r := &specReader{r: f}
	line, err := r.line(maxSpec)
	switch {
	case err != nil:
		return Fail(fmt.Errorf("reading the app's spec: %w", err))
	case line == nil:
		return 0
	}
	var s Spec
	if err := json.Unmarshal(line, &s); err != nil {
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
	switch gone, err := r.awaitGo(); {
	case err != nil:
		return Fail(fmt.Errorf("app %s: waiting for its root: %w", s.Name, err))
	case gone:
		return 0
	}
	f.Close()
	return Fail(Exec(&s, nil))
}

// checkProtocol checks that the init speaks this helper's Protocol.
func checkProtocol(args []string) error {
	if len(args) > 0 && args[len(args)-1] == Protocol {
		return nil
	}
	asked := "an older one"
	if len(args) > 0 {
		asked = fmt.Sprintf("%q", args[len(args)-1])
	}
	return fmt.Errorf("podctl-exec speaks %s, but the podctl that ran it speaks %s: install podctl and podctl-exec of one release", Protocol, asked)
}

// specReader reads what the init writes to the helper's spec pipe: the
// Spec's line, then the go byte (GoByte). The two may come in one read.
type specReader struct {
	r    io.Reader
	buf  []byte
	eof  bool
	rest []byte
}

// GoByte is what the init writes after the spec once the app's root is
// ready: the helper then becomes the app. Closing the pipe instead ends
// the helper.
const GoByte = 'g'

// line returns the first line, without its newline; nil if the pipe was
// closed with nothing written.
func (r *specReader) line(max int) ([]byte, error) {
	chunk := make([]byte, 32<<10)
	for {
		i := bytes.IndexByte(r.buf, '\n')
		if i > max || (i < 0 && len(r.buf) > max) {
			return nil, fmt.Errorf("the spec is over %d bytes", max)
		}
		if i >= 0 {
			r.rest = r.buf[i+1:]
			return r.buf[:i], nil
		}
		if r.eof {
			if len(r.buf) == 0 {
				return nil, nil
			}
			return nil, errors.New("the spec ends without a newline")
		}
		n, err := r.r.Read(chunk)
		r.buf = append(r.buf, chunk[:n]...)
		switch {
		case err == io.EOF:
			r.eof = true
		case err != nil:
			return nil, err
		}
	}
}

// awaitGo waits for the byte after the line, which must be the go byte;
// gone reports that the pipe was closed without it. What follows that
// byte is not read.
func (r *specReader) awaitGo() (gone bool, err error) {
	b := r.rest
	if len(b) == 0 && !r.eof {
		one := make([]byte, 1)
		n, err := io.ReadFull(r.r, one)
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		b = one[:n]
	}
	switch {
	case len(b) == 0:
		return true, nil
	case b[0] != GoByte:
		return false, fmt.Errorf("unexpected %q after the spec", b[:1])
	}
	return false, nil
}
