package kit

import (
	"encoding/json"
	"fmt"
	"os"

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
// starter (native's init) starts up: the overlay root and the /dev, each
// nil where it was not made ahead, and is then made at the app's start.
type Ahead struct {
	Root *RootTree
	Dev  *DevTree
}

// Close lets go of what was not used.
func (a Ahead) Close() {
	a.Root.Close()
	a.Dev.Close()
}

// aheadEntry says which trees of an app follow in an ahead message, in
// this order.
type aheadEntry struct {
	App  string `json:"app"`
	Root bool   `json:"root,omitempty"`
	Dev  bool   `json:"dev,omitempty"`
}

// maxAheadFDs is the most descriptors one message carries (SCM_MAX_FD).
const maxAheadFDs = 253

// SendAhead makes the roots and /devs of specs' apps that can be made
// ahead, and sends them in one message on the unix socket that conn
// returns once there is one to send on (nil: none, and the trees go). It
// always sends the message: its reader waits for it. An app whose trees
// could not be made is left out, and made at its start, where a failure
// is the app's.
func SendAhead(conn func() *os.File, specs []AppSpec) error {
	var entries []aheadEntry
	var fds []int
	for i := range specs {
		s := &specs[i]
		if len(fds)+2 > maxAheadFDs {
			break
		}
		e := aheadEntry{App: s.Name}
		if t, err := MakeRootTree(s); err == nil && t != nil {
			e.Root = true
			fds = append(fds, t.fd)
		}
		if t, err := MakeDevTree(s); err == nil && t != nil {
			e.Dev = true
			fds = append(fds, t.fd)
		}
		if e.Root || e.Dev {
			entries = append(entries, e)
		}
	}
	defer func() {
		// The receiver has its own copies.
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	msg, err := json.Marshal(entries)
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
	if err := unix.Sendmsg(int(c.Fd()), msg, oob, nil, 0); err != nil {
		return fmt.Errorf("sending the apps' roots: %w", err)
	}
	return nil
}

// ReceiveAhead reads SendAhead's message from conn, by app name. A
// message that does not read as one gives nothing: each app then makes
// its own trees.
func ReceiveAhead(conn *os.File) (map[string]Ahead, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxAheadFDs))
	n, oobn, _, _, err := unix.Recvmsg(int(conn.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receiving the apps' roots: %w", err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for i := range msgs {
			if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	entries, err := parseAhead(buf[:n], len(fds))
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receiving the apps' roots: %w", err)
	}
	out := map[string]Ahead{}
	for _, e := range entries {
		var a Ahead
		if e.Root {
			a.Root, fds = &RootTree{fd: fds[0]}, fds[1:]
		}
		if e.Dev {
			a.Dev, fds = &DevTree{fd: fds[0]}, fds[1:]
		}
		out[e.App] = a
	}
	return out, nil
}

// parseAhead reads the entries of an ahead message that came with nfds
// descriptors: one entry an app, as many trees as descriptors.
func parseAhead(msg []byte, nfds int) ([]aheadEntry, error) {
	var entries []aheadEntry
	if err := json.Unmarshal(msg, &entries); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	trees := 0
	for _, e := range entries {
		if seen[e.App] {
			return nil, fmt.Errorf("app %q twice", e.App)
		}
		seen[e.App] = true
		trees += btoi(e.Root) + btoi(e.Dev)
	}
	if trees != nfds {
		return nil, fmt.Errorf("%d descriptors for %d trees", nfds, trees)
	}
	return entries, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
