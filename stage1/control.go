package stage1

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"podctl/lifecycle"
)

// The app verbs of a mutable pod reach its stage1 over a unix socket in
// the pod directory (lifecycle.FileControl), which only the podctl that
// runs the pod listens on. The pod directory is out of the apps' reach
// (the isolated flavors pivot each app into its own root), and stage1
// answers only a peer of its own user: an app cannot forge a request.
// Each connection carries one request and its reply, a JSON object each:
//
//	-> {"op":"start","app":"web"}
//	<- {"error":""}
//
// An add is sent once stage0 has laid out the app's files and written it
// into the pod manifest (lifecycle.UpdateManifest); stage1 reads it from
// there. A stop or rm is answered once the app has ended.

// AppOp is one of the app verbs.
type AppOp string

// The app verbs.
const (
	AppAdd    AppOp = "add"
	AppStart  AppOp = "start"
	AppStop   AppOp = "stop"
	AppRemove AppOp = "rm"
)

// AppControlRequest is what stage0 asks a mutable pod's stage1.
type AppControlRequest struct {
	Op  AppOp  `json:"op"`
	App string `json:"app"`
}

type appControlReply struct {
	Error string `json:"error"`
}

// controlPath is the socket's path through the open pod directory: short
// whatever the data directory's path (a socket's path has 107 bytes at
// most), and the pod's own even if it moved.
func controlPath(p *lifecycle.Pod) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", p.LockFile().Fd(), lifecycle.FileControl)
}

// controlTimeout bounds a request: a stop waits for the app's grace.
const controlTimeout = 2 * time.Minute

// SendAppControl asks the running mutable pod p's stage1 to do op on app
// and returns its refusal, if it refuses, as an error of one line.
func SendAppControl(p *lifecycle.Pod, op AppOp, app string) error {
	conn, err := net.DialTimeout("unix", controlPath(p), 10*time.Second)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return fmt.Errorf("pod %s takes no app verbs: its stage1 is not running (or not yet listening)", p.UUID)
		}
		return fmt.Errorf("reaching the stage1 of pod %s: %w", p.UUID, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(controlTimeout))
	if err := json.NewEncoder(conn).Encode(AppControlRequest{Op: op, App: app}); err != nil {
		return fmt.Errorf("asking the stage1 of pod %s: %w", p.UUID, err)
	}
	var r appControlReply
	if err := json.NewDecoder(io.LimitReader(conn, 64<<10)).Decode(&r); err != nil {
		return fmt.Errorf("pod %s ended before it answered (%v)", p.UUID, err)
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

// ServeAppControl listens on p's control socket and has handle serve
// each request, one at a time, until the returned stop is called, which
// also removes the socket. p is the running pod its stage1 holds.
func ServeAppControl(p *lifecycle.Pod, handle func(AppControlRequest) error) (stop func(), err error) {
	path := controlPath(p)
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening for app verbs: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			serveOne(c, handle)
		}
	}()
	return func() {
		l.Close()
		<-done
	}, nil
}

// serveOne serves one request on c, from a peer of this process's user.
func serveOne(c *net.UnixConn, handle func(AppControlRequest) error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(controlTimeout))
	reply := func(err error) {
		var r appControlReply
		if err != nil {
			r.Error = err.Error()
		}
		json.NewEncoder(c).Encode(r)
	}
	if err := checkPeer(c); err != nil {
		reply(err)
		return
	}
	req, err := ReadAppControlRequest(c)
	if err != nil {
		reply(err)
		return
	}
	reply(handle(req))
}

// ReadAppControlRequest reads one request from r: a JSON object of at
// most 64 KiB naming a known verb and an app.
func ReadAppControlRequest(r io.Reader) (AppControlRequest, error) {
	var req AppControlRequest
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&req); err != nil {
		return req, fmt.Errorf("reading the app verb: %w", err)
	}
	switch req.Op {
	case AppAdd, AppStart, AppStop, AppRemove:
	default:
		return req, fmt.Errorf("stage1 knows no app verb %q", req.Op)
	}
	if req.App == "" {
		return req, errors.New("the app verb names no app")
	}
	return req, nil
}

// checkPeer refuses a peer that is not of this process's user.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("app verbs are taken from user %d only", os.Geteuid())
	}
	return nil
}
