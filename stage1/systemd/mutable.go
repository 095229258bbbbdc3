package systemd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/internal/fsutil"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// A mutable pod of this flavor takes its app verbs in stage1 (podctl run,
// in the host's namespaces), on the pod's control socket
// (stage1.ServeAppControl), as native's does. The pod's systemd runs the
// apps as it runs the first ones; what the boot helper did for those
// before nspawn started, stage1 does for an added app while the pod runs:
//
//   - its spec (spec.json) and unit, written into the pod directory and
//     the stage1 root, which is a folder of the pod;
//   - its root (overlay and volumes) and the cgroups of its limits,
//     mounted in a private mount namespace of a thread of stage1, taken
//     as detached mounts (open_tree), and attached where the stage1 root
//     keeps them, in the mount namespace of the pod's systemd
//     (move_mount): nothing of it is mounted on the host;
//   - its output FIFOs and their copiers;
//   - systemctl daemon-reload, start and stop, run as the pod's systemd
//     sees them: forked from a thread that joined its mount and PID
//     namespaces, as its exit hooks are.
//
// The pod's systemd is found as the process of the pod's init.scope,
// below the pod's checked cgroup.

// appControl serves a mutable pod's app verbs in stage1.
type appControl struct {
	r *boot
	// self is the podctl binary, for the in-pod helper.
	self string
	root string
	// fifos are the output FIFOs of the apps added, whose copiers end
	// when the app is removed or the pod has ended; copiers counts them.
	fifos   map[string][]*os.File
	copiers sync.WaitGroup
	// own are each app's own cgroup folders (its limits), removed with
	// the app.
	own map[string][]string
	// booted is closed once the pod's systemd has booted, or failed to
	// (bootErr).
	booted  chan struct{}
	bootErr error
}

// serveAppControl serves the pod's app verbs until the returned stop is
// called, once the pod has ended.
func serveAppControl(r *boot, self string) (func(), error) {
	c := &appControl{r: r, self: self, root: r.rc.Pod.FilePath(lifecycle.DirStage1Root), fifos: map[string][]*os.File{}, own: map[string][]string{},
		booted: make(chan struct{})}
	for _, s := range r.specs {
		c.own[s.Name] = s.LimitDirs
	}
	go func() {
		// The pod is ready once its systemd takes app verbs.
		defer close(c.booted)
		if c.bootErr = c.waitBoot(); c.bootErr != nil {
			r.rc.Warn(c.bootErr)
			return
		}
		r.booted.Store(true)
	}()
	stop, err := stage1.ServeAppControl(r.rc.Pod, func(req stage1.AppControlRequest) error {
		<-c.booted
		if c.bootErr != nil {
			return c.bootErr
		}
		return c.handle(req)
	})
	if err != nil {
		return nil, err
	}
	return func() {
		stop()
		// nspawn is gone, and every writer with it.
		for _, fifos := range c.fifos {
			drain(fifos)
		}
		c.copiers.Wait()
	}, nil
}

// drain makes the copiers of fifos read what is left and end.
func drain(fifos []*os.File) {
	for _, f := range fifos {
		f.SetReadDeadline(time.Now())
	}
}

// do runs f in watch's goroutine, which owns the apps' list.
func (c *appControl) do(f func()) error {
	done := make(chan struct{})
	select {
	case c.r.control <- func() { f(); close(done) }:
	case <-c.r.done:
		return fmt.Errorf("pod %s is ending", c.r.rc.Pod.UUID)
	}
	<-done
	return nil
}

// handle serves one app verb.
func (c *appControl) handle(req stage1.AppControlRequest) error {
	p := c.r.rc.Pod
	if _, err := types.NewACName(req.App); err != nil {
		return fmt.Errorf("app name %q is not valid", req.App)
	}
	has := false
	if err := c.do(func() {
		for _, s := range c.r.specs {
			has = has || s.Name == req.App
		}
	}); err != nil {
		return err
	}
	switch {
	case req.Op == stage1.AppAdd && has:
		return fmt.Errorf("pod %s has an app %s already", p.UUID, req.App)
	case req.Op == stage1.AppAdd:
		return c.add(req.App)
	case !has:
		return fmt.Errorf("pod %s has no app %q", p.UUID, req.App)
	case req.Op == stage1.AppStart:
		return c.start(req.App)
	case req.Op == stage1.AppStop:
		return c.stop(req.App)
	case req.Op == stage1.AppRemove:
		return c.remove(req.App)
	}
	return fmt.Errorf("stage1 knows no app verb %q", req.Op)
}

// add adds the app name, which stage0 has just written into the pod
// manifest, not started.
func (c *appControl) add(name string) error {
	p := c.r.rc.Pod
	if c.r.rc.Interactive {
		return fmt.Errorf("pod %s is interactive: its terminal is its first app's", p.UUID)
	}
	s, err := c.spec(name)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			c.forget(name)
		}
	}()
	fifos, copiers, err := startLogging(p, []kit.AppSpec{*s}, c.r.rc.Warn)
	if err != nil {
		return err
	}
	c.fifos[name] = fifos
	c.copiers.Add(1)
	go func() { copiers.Wait(); c.copiers.Done() }()
	if err := writeApp(c.root, p, *s, unitOptions{Hostname: c.r.hostname}); err != nil {
		return err
	}
	if err := c.mount(s); err != nil {
		return err
	}
	if err := c.systemctl("daemon-reload"); err != nil {
		return err
	}
	if err := c.do(func() {
		c.r.specs = append(c.r.specs, *s)
		c.r.restarts = append(c.r.restarts, 0)
		c.r.appReady = append(c.r.appReady, true)
	}); err != nil {
		return err
	}
	ok = true
	return nil
}

// spec makes the spec of the app name, read from the pod manifest, and
// its cgroups, as Begin makes those of a pod's first apps.
func (c *appControl) spec(name string) (*kit.AppSpec, error) {
	p := c.r.rc.Pod
	s, err := kit.AddedAppSpec(p, name)
	if err != nil {
		return nil, err
	}
	if len(s.SecretEnv) > 0 {
		// Their values live in a tmpfs of the boot helper's, made before
		// nspawn started.
		return nil, fmt.Errorf("app %s has secret variables, which the systemd flavor gives only to a pod's first apps: add it to a native pod, or give it at run", name)
	}
	if len(s.Devices) > 0 && !exists(filepath.Join(c.root, inDevices)) {
		return nil, fmt.Errorf("app %s has devices, which the stage1 root of pod %s lacks", name, p.UUID)
	}
	g := c.r.pod.Group
	dirs, err := g.NewAppGroup(s.Name, s.Limits)
	c.own[name] = dirs
	if err != nil {
		return nil, err
	}
	s.LimitDirs = dirs
	s.Cgroups = append(append([]string(nil), g.Dirs...), dirs...)
	return s, nil
}

// mount attaches the app's root and the cgroups of its limits where the
// stage1 root keeps them, in the mount namespace of the pod's systemd,
// through the in-pod helper.
func (c *appControl) mount(s *kit.AppSpec) error {
	_, onHost := c.targets(s.Name, len(s.LimitDirs))
	for _, d := range onHost {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("making the stage1 root: %w", err)
		}
	}
	enc, err := kit.EncodeSpec(s)
	if err != nil {
		return err
	}
	_, err = c.inPod([]string{envSpecs + "=" + enc}, "mount")
	return err
}

// targets are where the stage1 root keeps app's root and the n cgroups
// of its limits, as the pod sees them and on the host.
func (c *appControl) targets(app string, n int) (inside, onHost []string) {
	inside = podTargets(app, n)
	for _, d := range inside {
		onHost = append(onHost, filepath.Join(c.root, d))
	}
	return inside, onHost
}

// podTargets are where the stage1 root keeps app's root and the n
// cgroups of its limits, as the pod sees them.
func podTargets(app string, n int) []string {
	inside := []string{filepath.Join(stage2, app, "rootfs")}
	for i := 0; i < n; i++ {
		inside = append(inside, filepath.Join(inCgroups, app, strconv.Itoa(i)))
	}
	return inside
}

// unmount detaches what mount attached of app, in the pod's systemd's
// mount namespace.
func (c *appControl) unmount(app string, n int) error {
	_, err := c.inPod(nil, "unmount", app, strconv.Itoa(n))
	return err
}

// start starts the app's service; it returns once the app runs.
func (c *appControl) start(name string) error {
	if c.active(name) {
		return fmt.Errorf("app %s is running already", name)
	}
	p := c.r.rc.Pod
	appDir := p.FilePath(lifecycle.AppDir(name))
	// What an earlier run left must not be taken for this one's.
	for _, f := range []string{lifecycle.AppStartError, lifecycle.AppStarted} {
		if err := os.Remove(filepath.Join(appDir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := c.systemctl("start", serviceName(name)); err != nil {
		return fmt.Errorf("app %s did not start: %w", name, err)
	}
	// The service is started once its exec helper runs; the app, once
	// the helper has become it, or has said why it could not.
	for deadline := time.Now().Add(startWait); ; time.Sleep(10 * time.Millisecond) {
		if execed(appDir) {
			return nil
		}
		if b, err := os.ReadFile(filepath.Join(appDir, lifecycle.AppStartError)); err == nil {
			return fmt.Errorf("app %s did not start: %s", name, b)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("app %s has not started after %s", name, startWait)
		}
	}
}

// startWait bounds the wait for an app's exec helper to become the app:
// seconds on a loaded machine.
const startWait = time.Minute

// stop stops the app's service, as the pod's stop does (SIGTERM, then
// SIGKILL after StopGrace), and returns once its exit hook has recorded
// its status, with the reason Stopped.
func (c *appControl) stop(name string) error {
	if !c.active(name) {
		return nil
	}
	// Its exit hook neither restarts it nor gives another reason.
	mark := c.r.rc.Pod.FilePath(lifecycle.AppFile(name, lifecycle.AppStopping))
	if err := fsutil.WriteFile(mark, nil, 0o600, false); err != nil {
		return err
	}
	defer os.Remove(mark)
	return c.systemctl("stop", serviceName(name))
}

// remove stops the app and takes it out of the pod: its unit, its mounts
// in the pod, its output's copiers and its cgroups.
func (c *appControl) remove(name string) error {
	if err := c.stop(name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(c.root, "etc", "systemd", "system", serviceName(name))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := c.systemctl("daemon-reload"); err != nil {
		return err
	}
	// A failed unit is remembered until then; nothing to say if not.
	c.systemctl("reset-failed", serviceName(name))
	if err := c.unmount(name, len(c.own[name])); err != nil {
		return err
	}
	c.forget(name)
	return nil
}

// forget drops the app from the pod's list, ends the copiers of its
// output and removes its cgroups, saying through Warn what fails.
func (c *appControl) forget(name string) {
	c.do(func() {
		for i, s := range c.r.specs {
			if s.Name == name {
				c.r.specs = append(c.r.specs[:i:i], c.r.specs[i+1:]...)
				c.r.restarts = append(c.r.restarts[:i:i], c.r.restarts[i+1:]...)
				c.r.appReady = append(c.r.appReady[:i:i], c.r.appReady[i+1:]...)
				return
			}
		}
	})
	drain(c.fifos[name])
	delete(c.fifos, name)
	if dirs := c.own[name]; len(dirs) > 0 {
		g := &cgroup.Group{Dirs: dirs}
		if err := g.Kill(cgroup.KillWait); err != nil {
			c.r.rc.Warn(err)
		} else if err := g.Remove(); err != nil {
			c.r.rc.Warn(err)
		}
	}
	delete(c.own, name)
}

// bootWait bounds the wait for the pod's systemd to boot: seconds on a
// loaded machine.
const bootWait = 2 * time.Minute

// waitBoot waits until the pod's systemd has booted: it runs, and its
// start-up is over.
func (c *appControl) waitBoot() error {
	deadline := time.Now().Add(bootWait)
	for {
		select {
		case <-c.r.done:
			return fmt.Errorf("pod %s ended before its systemd had booted", c.r.rc.Pod.UUID)
		default:
		}
		if _, err := c.podSystemd(); err == nil {
			out, _ := c.systemctlOutput("is-system-running", "--wait")
			if state := strings.TrimSpace(out); state == "running" || state == "degraded" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the systemd of pod %s has not booted after %s", c.r.rc.Pod.UUID, bootWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// active reports whether the app's service is active (or activating).
func (c *appControl) active(name string) bool {
	return c.systemctl("is-active", "--quiet", serviceName(name)) == nil
}

// systemctl runs systemctl with args as the pod's systemd's own
// processes do: in its mount and PID namespaces.
func (c *appControl) systemctl(args ...string) error {
	_, err := c.systemctlOutput(args...)
	return err
}

// systemctlOutput is systemctl, returning what it printed.
func (c *appControl) systemctlOutput(args ...string) (string, error) {
	out, err := c.inPod(nil, append([]string{"systemctl"}, args...)...)
	if err != nil {
		return out, fmt.Errorf("systemctl %s in the pod: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// inPod runs the in-pod helper (inPodMain) for the pod's systemd with
// args, and returns what it printed; its error is the line it printed
// on its standard error. A helper process, not a thread of stage1's: a
// thread changed for good must end, and the boot helper's parent-death
// signal could be bound to it.
func (c *appControl) inPod(env []string, args ...string) (string, error) {
	pid, err := c.podSystemd()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(c.self, append([]string{stage1.Verb, helperInPod, strconv.Itoa(pid)}, args...)...)
	cmd.Args[0] = "podctl"
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "podctl: "))
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), errors.New(strings.ReplaceAll(msg, "\n", " "))
	}
	return stdout.String(), nil
}

// podSystemd finds the pod's systemd on the host: the one process of an
// init.scope below the pod's cgroup in the tracking hierarchy, which is
// the pod's own checked folder. While the pod's systemd sets up its
// cgroups (a loaded machine takes a while), none or more than one may
// qualify: it looks again, for findSystemdWait at most.
func (c *appControl) podSystemd() (int, error) {
	top := c.r.pod.Group.Dirs[0]
	deadline := time.Now().Add(findSystemdWait)
	for {
		var found []int
		err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || d.Name() != "init.scope" {
				return nil
			}
			pids, perr := (&cgroup.Group{Dirs: []string{path}}).Procs()
			if perr == nil && len(pids) == 1 && pids[0] > 1 {
				found = append(found, pids[0])
			}
			return filepath.SkipDir
		})
		if err != nil {
			return 0, err
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the systemd of pod %s is not found in its cgroup %s", c.r.rc.Pod.UUID, top)
		}
		select {
		case <-c.r.done:
			return 0, fmt.Errorf("pod %s has ended", c.r.rc.Pod.UUID)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findSystemdWait bounds podSystemd's looking.
const findSystemdWait = 10 * time.Second

// joinPod moves the calling thread into the namespaces (nstype) of pid,
// the pod's systemd.
func joinPod(pid, nstype int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("joining the namespaces of the pod's systemd (pid %d): %w", pid, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, nstype); err != nil {
		return fmt.Errorf("joining the pod's namespaces: %w", err)
	}
	return nil
}

// podDevices are the pod's devices (--device), which the boot helper
// binds into the stage1 root: every app's, read from the manifest when
// the pod starts with none.
func podDevices(p *lifecycle.Pod, specs []kit.AppSpec) ([]stage1.Device, error) {
	if len(specs) > 0 {
		return specs[0].Devices, nil
	}
	_, m, err := p.PodManifest()
	if err != nil {
		return nil, err
	}
	v, ok := m.Annotations.Get(lifecycle.AnnotationDevices)
	if !ok {
		return nil, nil
	}
	return stage1.ParseDevices(v)
}

// helperInPod acts in the pod's systemd's namespaces (inPodMain).
const helperInPod = "systemd-in-pod"

// inPodMain is the in-pod helper: `podctl stage1 systemd-in-pod PID
// mount` attaches the app of the spec in $PODCTL_APP_SPECS (its root
// mounted here first, in a mount namespace of the helper's own);
// `... PID unmount APP N` detaches it; `... PID systemctl ARGS...` runs
// systemctl in the mount and PID namespaces of PID, the pod's systemd.
func inPodMain(args []string) int {
	// Every step is on this thread, whose namespaces it changes.
	runtime.LockOSThread()
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return 1
	}
	if len(args) < 2 {
		return fail(errors.New("usage: stage1 " + helperInPod + " PID mount|unmount|systemctl ARGS"))
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil || pid <= 1 {
		return fail(fmt.Errorf("%q is not a pid", args[0]))
	}
	switch args[1] {
	case "mount":
		s, err := kit.DecodeSpec(os.Getenv(envSpecs))
		if err != nil {
			return fail(err)
		}
		if err := mountInPod(pid, s); err != nil {
			return fail(err)
		}
	case "unmount":
		n := 0
		if len(args) == 4 {
			n, err = strconv.Atoi(args[3])
		}
		if len(args) != 4 || err != nil {
			return fail(errors.New("usage: stage1 " + helperInPod + " PID unmount APP N"))
		}
		if err := unmountInPod(pid, args[2], n); err != nil {
			return fail(err)
		}
	case "systemctl":
		return systemctlInPod(pid, args[2:])
	default:
		return fail(fmt.Errorf("%s knows no %q", helperInPod, args[1]))
	}
	return 0
}

// mountInPod mounts app s's root (overlay, volumes) in a mount namespace
// of this thread's own, never on the host, takes it and the cgroups of
// its limits as detached mounts, and attaches them where the stage1 root
// keeps them, in the mount namespace of pid.
func mountInPod(pid int, s *kit.AppSpec) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("mounting app %s: %w", s.Name, err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mounting app %s: %w", s.Name, err)
	}
	if s.Lower != "" {
		if err := kit.MountOverlay(s); err != nil {
			return err
		}
	}
	if err := kit.MountVolumes(s); err != nil {
		return err
	}
	var fds []int
	for i, src := range append([]string{s.Rootfs}, s.LimitDirs...) {
		flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
		if i == 0 {
			flags |= unix.AT_RECURSIVE
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, src, uint(flags))
		if err != nil {
			return fmt.Errorf("mounting app %s: taking %s: %w", s.Name, src, err)
		}
		fds = append(fds, fd)
	}
	if err := joinPod(pid, unix.CLONE_NEWNS); err != nil {
		return err
	}
	inside := podTargets(s.Name, len(s.LimitDirs))
	for i, fd := range fds {
		if err := unix.MoveMount(fd, "", unix.AT_FDCWD, inside[i], unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("mounting app %s on %s in the pod: %w", s.Name, inside[i], err)
		}
	}
	return nil
}

// unmountInPod detaches app's root and the n cgroups of its limits in
// the mount namespace of pid.
func unmountInPod(pid int, app string, n int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return err
	}
	if err := joinPod(pid, unix.CLONE_NEWNS); err != nil {
		return err
	}
	inside := podTargets(app, n)
	for i := len(inside) - 1; i >= 0; i-- {
		if err := unix.Unmount(inside[i], unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("unmounting %s in the pod: %w", inside[i], err)
		}
	}
	return nil
}

// systemctlInPod runs systemctl in the mount and PID namespaces of pid,
// where the pod's systemd takes it for one of its own processes, and
// exits as it does.
func systemctlInPod(pid int, args []string) int {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return 1
	}
	if err := joinPod(pid, unix.CLONE_NEWNS|unix.CLONE_NEWPID); err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
		return 1
	}
	// Forked from this thread: in the pod's namespaces.
	cmd := &exec.Cmd{Path: "/usr/bin/systemctl", Args: append([]string{"systemctl"}, args...), Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/"}
	out, err := cmd.CombinedOutput()
	os.Stdout.Write(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podctl: %v: %s\n", err, strings.TrimSpace(string(out)))
		return 1
	}
	return 0
}
