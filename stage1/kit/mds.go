package kit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podctl/datadir"
	"podctl/internal/mds"
	"podctl/store"
)

// mdsReadyTimeout bounds the helper's start: a Go program's start takes
// milliseconds, but a loaded machine can make it seconds.
const mdsReadyTimeout = 30 * time.Second

// StartMDS starts the pod's metadata service (--mds-register): podctl-mds,
// answering on 127.0.0.1 in the pod's network namespace netns (a path to
// it), and so reachable from that pod alone. It gives every app of the
// pod AC_METADATA_URL, a secret of its environment since it holds the
// token. The helper ends with this process: when its stdin, held here,
// closes, even if stage1 is killed.
func StartMDS(pod *Pod, netns string) error {
	rc := pod.RC
	helper, err := mds.HelperPath()
	if err != nil {
		return err
	}
	cfg, err := mdsConfig(pod)
	if err != nil {
		return fmt.Errorf("starting the metadata service: %w", err)
	}
	l, port, err := listenIn(netns)
	if err != nil {
		return fmt.Errorf("starting the metadata service: %w", err)
	}
	defer l.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting the metadata service: %w", err)
	}
	defer cfgR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		cfgW.Close()
		return fmt.Errorf("starting the metadata service: %w", err)
	}
	defer readyR.Close()
	cmd := exec.Command(helper)
	cmd.Env = []string{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cfgR, readyW, os.Stderr
	cmd.ExtraFiles = []*os.File{l}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Out of the terminal's process group: a ^C is for the pod.
		// No parent-death signal: it is sent when the forking thread
		// ends, not the process, and the end of stdin, which the kernel
		// closes with this process however it dies, ends the helper.
		Setsid: true,
	}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		cfgW.Close()
		return fmt.Errorf("starting the metadata service: %w", err)
	}
	stop := func() error {
		cfgW.Close()
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
			}
		}()
		err := cmd.Wait()
		close(done)
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Exited() {
			return fmt.Errorf("the metadata service ended with status %d", ee.ExitCode())
		}
		return nil
	}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		cmd.Process.Kill()
		stop()
		return fmt.Errorf("starting the metadata service: %w", err)
	}
	if err := waitReady(readyR); err != nil {
		cmd.Process.Kill()
		stop()
		return fmt.Errorf("starting the metadata service: %w", err)
	}
	pod.Defer(stop)
	url := fmt.Sprintf("http://%s/%s", netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port), cfg.Token)
	for i := range pod.Specs {
		setSecretEnv(&pod.Specs[i], mds.EnvURL, url)
	}
	rc.Debugf("metadata service started as pid %d on 127.0.0.1:%d in the pod's network namespace", cmd.Process.Pid, port)
	return nil
}

// mdsConfig is what the helper serves for pod.
func mdsConfig(pod *Pod) (*mds.Config, error) {
	p := pod.RC.Pod
	raw, m, err := p.PodManifest()
	if err != nil {
		return nil, err
	}
	dataDir := datadir.OfPod(p.Path())
	key, err := mds.LoadHostKey(dataDir)
	if err != nil {
		return nil, err
	}
	token, err := mds.NewToken()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(datadir.ImagesDir(dataDir))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ims := map[string]json.RawMessage{}
	for _, ra := range m.Apps {
		_, b, err := st.Manifest(ra.Image.ID.String())
		if err != nil {
			return nil, fmt.Errorf("reading the image manifest of app %s (image %s): %w", ra.Name, ra.Image.ID, err)
		}
		ims[ra.Name.String()] = b
	}
	return &mds.Config{UUID: p.UUID, Token: token, PodManifest: raw, ImageManifests: ims, HostKey: key}, nil
}

// listenIn makes a TCP socket listening on 127.0.0.1 in the network
// namespace at netns, on a port the kernel picks, from a thread moved
// there for the while. IP_FREEBIND lets it bind before the namespace's
// loopback is up (the native flavor's init brings it up).
func listenIn(netns string) (*os.File, uint16, error) {
	type result struct {
		f    *os.File
		port uint16
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		var back bool
		r.f, r.port, back, r.err = listenOnThread(netns)
		ch <- r
		if !back {
			// Parked for good rather than ended: a thread that ends takes
			// with it the children it forked with a parent-death signal
			// (the pod's init, started from any thread).
			select {}
		}
		runtime.UnlockOSThread()
	}()
	r := <-ch
	return r.f, r.port, r.err
}

// listenOnThread runs on a locked thread; back says whether the thread
// is in its own network namespace again.
func listenOnThread(netns string) (*os.File, uint16, bool, error) {
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return nil, 0, true, err
	}
	defer orig.Close()
	target, err := os.Open(netns)
	if err != nil {
		return nil, 0, true, fmt.Errorf("opening the pod's network namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, 0, true, fmt.Errorf("joining the pod's network namespace: %w", err)
	}
	f, port, err := listenLoopback()
	// A rootless stage1 may not go back into the host's namespace, which
	// its user namespace does not own: the socket is made all the same,
	// and the thread stays locked (listenIn).
	back := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil
	return f, port, back, err
}

// listenLoopback listens on 127.0.0.1 of the calling thread's network
// namespace.
func listenLoopback() (*os.File, uint16, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("making the listening socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "mds-listener")
	err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	}
	if err == nil {
		err = unix.Listen(fd, 128)
	}
	var sa unix.Sockaddr
	if err == nil {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("listening on 127.0.0.1 in the pod: %w", err)
	}
	return f, uint16(sa.(*unix.SockaddrInet4).Port), nil
}

// waitReady waits for the helper's ReadyLine on r; the helper says on
// stderr why it did not come.
func waitReady(r *os.File) error {
	r.SetReadDeadline(time.Now().Add(mdsReadyTimeout))
	line, err := bufio.NewReader(r).ReadString('\n')
	if line == mds.ReadyLine {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s did not start: %w", mds.HelperName, err)
	}
	return fmt.Errorf("%s said %q, not that it is ready", mds.HelperName, strings.TrimSpace(line))
}

// setSecretEnv sets k=v in s's environment, over any value the app has,
// as a secret: a flavor writes it to no file of the pod.
func setSecretEnv(s *AppSpec, k, v string) {
	env := s.Env[:0]
	for _, kv := range s.Env {
		if name, _, _ := strings.Cut(kv, "="); name != k {
			env = append(env, kv)
		}
	}
	s.Env = append(env, k+"="+v)
	for _, name := range s.SecretEnv {
		if name == k {
			return
		}
	}
	s.SecretEnv = append(s.SecretEnv, k)
}
