package kit

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"podctl/internal/rootless"
)

// RootTree is an app's overlay root mounted before the app's start
// (MakeRootTree): a detached mount, which no mount namespace shows, until
// SetUpDev moves it onto the app's root folder.
type RootTree struct{ fd int }

// MakeRootTree mounts app s's overlay root as a detached mount. It
// returns nil, and no error, for a root that is not an overlay of its own
// to mount (a copy), and for an app with private users, whose tree may be
// shown through the pod's user mapping (mapsTrees), which only the init
// holds: SetUpDev mounts those.
func MakeRootTree(s *AppSpec) (*RootTree, error) {
	if s.Lower == "" || s.Users != nil || rootless.Inside() {
		return nil, nil
	}
	if err := clearVolatile(s.Work); err != nil {
		return nil, err
	}
	fd, err := overlayTree(s, true)
	if err == unix.EINVAL {
		// A kernel before 5.10 has no volatile overlays.
		fd, err = overlayTree(s, false)
	}
	if err != nil {
		return nil, fmt.Errorf("mounting overlay root: %w", err)
	}
	return &RootTree{fd: fd}, nil
}

// overlayTree mounts s's overlay, volatile or not, detached. The values
// are escaped as in a mount's options: a kernel before 6.5 passes them to
// overlayfs as one.
func overlayTree(s *AppSpec, volatile bool) (int, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	for _, o := range [][2]string{{"source", "overlay"}, {"lowerdir", escapeOverlay(s.Lower)}, {"upperdir", escapeOverlay(s.Upper)}, {"workdir", escapeOverlay(s.Work)}} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return -1, err
		}
	}
	if volatile {
		if err := unix.FsconfigSetFlag(fsfd, "volatile"); err != nil {
			return -1, err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
}

// attach moves the tree onto the app's root folder.
func (t *RootTree) attach(root string) error {
	if err := unix.MoveMount(t.fd, "", unix.AT_FDCWD, root, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounting overlay root: %w", err)
	}
	return nil
}

// Close lets the tree go; once attached, it stays where it is.
func (t *RootTree) Close() {
	if t != nil && t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}

// Ahead is what a pod's stage1 makes of an app's root while the app's
// starter (native's init) starts up: the app's mount namespace, its root
// set up, or, where that could not be made, the overlay root and the
// /dev, each nil where it was not made ahead, and is then made at the
// app's start.
type Ahead struct {
	NS   *AppNamespace
	Root *RootTree
	Dev  *DevTree
}

// Close lets go of what was not used.
func (a Ahead) Close() {
	a.NS.Close()
	a.Root.Close()
	a.Dev.Close()
}

// Prepared is what SendAhead sends: each app's trees, by app name, and
// binaries opened for the receiver (OpenBinaries), by file name.
type Prepared struct {
	Apps     map[string]Ahead
	Binaries map[string]*os.File
}

// aheadMessage is SendAhead's message. Its descriptors are, in order,
// each app's trees, as Apps says, then the binaries named.
type aheadMessage struct {
	Apps     []aheadEntry `json:"apps"`
	Binaries []string     `json:"binaries,omitempty"`
}

// aheadEntry says which trees of an app the message carries, in this
// order: its mount namespace, or its root and its /dev.
type aheadEntry struct {
	App  string `json:"app"`
	NS   bool   `json:"ns,omitempty"`
	Root bool   `json:"root,omitempty"`
	Dev  bool   `json:"dev,omitempty"`
}

// maxAheadFDs is the most descriptors one message carries (SCM_MAX_FD),
// maxAheadBinaries the most binaries it carries (podctl's and one
// helper's).
const (
	maxAheadFDs      = 253
	maxAheadBinaries = 2
)

// SendAhead makes the roots and /devs of specs' apps that can be made
// ahead, and, where namespace (if not nil) makes the app's mount namespace
// from them, that instead (nil and no error: it does not try; an error:
// it failed, and the app gets nothing ahead); it sends them, with the binaries that binaries
// returns once they are made (by name; nil ones are left out), in one
// message on the unix socket that conn returns once there is one to send
// on (nil: none, and the trees go). It always sends the message: its
// reader waits for it. An app whose trees could not be made is left out,
// and made at its start, where a failure is the app's. The binaries stay
// the caller's.
func SendAhead(conn func() *os.File, specs []AppSpec, binaries func() map[string]*os.File, namespace func(s *AppSpec, a Ahead) (*AppNamespace, error)) error {
	var m aheadMessage
	var trees []int
	defer func() {
		// The receiver has its own copies.
		for _, fd := range trees {
			unix.Close(fd)
		}
	}()
	made := make([]Ahead, 0, len(specs))
	for i := range specs {
		if 2*(len(made)+1)+maxAheadBinaries > maxAheadFDs {
			break
		}
		var a Ahead
		if t, err := MakeRootTree(&specs[i]); err == nil && t != nil {
			a.Root = t
		}
		if t, err := MakeDevTree(&specs[i]); err == nil && t != nil {
			a.Dev = t
		}
		made = append(made, a)
	}
	if namespace != nil {
		// Side by side: each on a thread of its own.
		var wg sync.WaitGroup
		for i := range made {
			wg.Go(func() {
				ns, err := namespace(&specs[i], made[i])
				if ns != nil || err != nil {
					// The namespace holds the trees, mounted; a failed
					// one has taken them with it, and the app's start
					// makes its own.
					made[i].Close()
					made[i] = Ahead{NS: ns}
				}
			})
		}
		wg.Wait()
	}
	for i, a := range made {
		e := aheadEntry{App: specs[i].Name, NS: a.NS != nil, Root: a.Root != nil, Dev: a.Dev != nil}
		if e.NS {
			trees = append(trees, a.NS.fd)
		}
		if e.Root {
			trees = append(trees, a.Root.fd)
		}
		if e.Dev {
			trees = append(trees, a.Dev.fd)
		}
		if e.NS || e.Root || e.Dev {
			m.Apps = append(m.Apps, e)
		}
	}
	fds := slices.Clone(trees)
	var bins map[string]*os.File
	if binaries != nil {
		bins = binaries()
	}
	for name, f := range bins {
		if f != nil && len(m.Binaries) < maxAheadBinaries {
			m.Binaries = append(m.Binaries, name)
			fds = append(fds, int(f.Fd()))
		}
	}
	msg, err := json.Marshal(&m)
	if err != nil {
		return fmt.Errorf("sending the apps' roots: %w", err)
	}
	c := conn()
	if c == nil {
		return nil
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	// Through the file's own reference: a caller that ends the socket
	// meanwhile (a start that failed) cannot have its descriptor's
	// number given to another file under the send.
	raw, err := c.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) { err = unix.Sendmsg(int(fd), msg, oob, nil, 0) })
		if err == nil {
			err = cerr
		}
	}
	runtime.KeepAlive(bins)
	if err != nil {
		return fmt.Errorf("sending the apps' roots: %w", err)
	}
	return nil
}

// ReceiveAhead reads SendAhead's message from conn. A message that does
// not read as one gives nothing: each app then makes its own trees, and
// the receiver opens its own binaries.
func ReceiveAhead(conn *os.File) (Prepared, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxAheadFDs))
	n, oobn, _, _, err := unix.Recvmsg(int(conn.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return Prepared{}, fmt.Errorf("receiving the apps' roots: %w", err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for i := range msgs {
			if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	m, err := parseAhead(buf[:n], len(fds))
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return Prepared{}, fmt.Errorf("receiving the apps' roots: %w", err)
	}
	p := Prepared{Apps: map[string]Ahead{}, Binaries: map[string]*os.File{}}
	for _, e := range m.Apps {
		var a Ahead
		if e.NS {
			a.NS, fds = &AppNamespace{fd: fds[0]}, fds[1:]
		}
		if e.Root {
			a.Root, fds = &RootTree{fd: fds[0]}, fds[1:]
		}
		if e.Dev {
			a.Dev, fds = &DevTree{fd: fds[0]}, fds[1:]
		}
		p.Apps[e.App] = a
	}
	for i, name := range m.Binaries {
		p.Binaries[name] = os.NewFile(uintptr(fds[i]), name)
	}
	return p, nil
}

// parseAhead reads an ahead message that came with nfds descriptors: one
// entry an app, one name a binary, as many trees and binaries as
// descriptors.
func parseAhead(msg []byte, nfds int) (*aheadMessage, error) {
	var m aheadMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	want := len(m.Binaries)
	for _, e := range m.Apps {
		if seen[e.App] {
			return nil, fmt.Errorf("app %q twice", e.App)
		}
		seen[e.App] = true
		want += btoi(e.NS) + btoi(e.Root) + btoi(e.Dev)
	}
	bins := map[string]bool{}
	for _, b := range m.Binaries {
		if b == "" || bins[b] {
			return nil, fmt.Errorf("binary %q twice or unnamed", b)
		}
		bins[b] = true
	}
	if want != nfds {
		return nil, fmt.Errorf("%d descriptors for %d trees and binaries", nfds, want)
	}
	return &m, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
