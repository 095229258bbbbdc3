package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/appc/spec/schema/types"

	"podctl/cgroup"
	"podctl/stage1"
	"podctl/stage1/kit"
)

// A mutable pod's app verbs reach stage1 (this process, in the host's
// namespaces) on the pod's control socket (stage1.ServeAppControl).
// stage1 makes what needs the pod's cgroup group, which only it holds:
// an added app's spec, read from the manifest, and its cgroups. It then
// passes the verb to the init over a socket pair made when the init was
// started (controlFD in the init), one JSON request and one JSON reply at
// a time; the init's Supervisor starts, stops and reaps the apps. The
// apps never hold either end.

// controlFD is where the init reads the app verbs of a mutable pod, and
// where the init of a pod that is not mutable passes stage1 its apps'
// mount namespaces (reaper.passMounts).
const controlFD = configFD + 1

// appControl serves a mutable pod's app verbs in stage1.
type appControl struct {
	rc   *stage1.RunContext
	pod  *kit.Pod
	init *os.File
	enc  *json.Encoder
	dec  *json.Decoder
	// own are each app's own cgroup folders, removed with the app.
	own map[string][]string
}

// initReply is the init's answer to an app verb.
type initReply struct {
	Error string `json:"error"`
}

// serveAppControl serves the pod's app verbs until the returned stop is
// called.
func serveAppControl(rc *stage1.RunContext, pod *kit.Pod, init *os.File) (func(), error) {
	c := &appControl{rc: rc, pod: pod, init: init, enc: json.NewEncoder(init), dec: json.NewDecoder(init), own: map[string][]string{}}
	for _, s := range pod.Specs {
		c.own[s.Name] = append([]string{s.Cgroups[0]}, s.LimitDirs...)
	}
	return stage1.ServeAppControl(rc.Pod, c.handle)
}

// handle serves one app verb.
func (c *appControl) handle(req stage1.AppControlRequest) error {
	if _, err := types.NewACName(req.App); err != nil {
		return fmt.Errorf("app name %q is not valid", req.App)
	}
	r := kit.AppRequest{Op: req.Op, App: req.App}
	switch req.Op {
	case stage1.AppAdd:
		spec, err := c.spec(req.App)
		if err != nil {
			return err
		}
		r.Spec = spec
	case stage1.AppStart, stage1.AppStop, stage1.AppRemove:
	default:
		return fmt.Errorf("stage1 knows no app verb %q", req.Op)
	}
	err := c.ask(r)
	if (req.Op == stage1.AppAdd && err != nil) || (req.Op == stage1.AppRemove && err == nil) {
		c.removeCgroups(req.App)
	}
	return err
}

// ask passes r to the init and returns its answer.
func (c *appControl) ask(r kit.AppRequest) error {
	if err := c.enc.Encode(r); err != nil {
		return fmt.Errorf("the pod's init has ended: %w", err)
	}
	var rep initReply
	if err := c.dec.Decode(&rep); err != nil {
		return fmt.Errorf("the pod's init ended before it answered: %w", err)
	}
	if rep.Error != "" {
		return errors.New(rep.Error)
	}
	return nil
}

// spec makes the spec of the app name, which stage0 has just written
// into the pod manifest, and its cgroups, as Begin and configOf make
// those of a pod's first apps.
func (c *appControl) spec(name string) (*kit.AppSpec, error) {
	p := c.rc.Pod
	if _, ok := c.own[name]; ok {
		// Checked first: the cgroups made below, and removed if the add
		// fails, would be the running app's.
		return nil, fmt.Errorf("pod %s has an app %s already", p.UUID, name)
	}
	s, err := kit.AddedAppSpec(p, name)
	if err != nil {
		return nil, err
	}
	if c.pod.Cgroupless() {
		return nil, fmt.Errorf("pod %s has no cgroups to add an app in", p.UUID)
	}
	g := c.pod.Group
	dirs, err := g.NewAppGroup(s.Name, s.Limits)
	c.own[name] = dirs
	if err != nil {
		c.removeCgroups(name)
		return nil, err
	}
	child, err := g.NewChild(s.Name)
	c.own[name] = append([]string{child}, dirs...)
	if err != nil {
		c.removeCgroups(name)
		return nil, err
	}
	s.LimitDirs = dirs
	s.Cgroups = append(append([]string{child}, g.Dirs[1:]...), dirs...)
	if s.CgroupViews, err = g.Views(s.Cgroups); err != nil {
		c.removeCgroups(name)
		return nil, err
	}
	return s, nil
}

// removeCgroups kills what is left in an app's own cgroups and removes
// them; what fails is a warning: the pod's end removes them all.
func (c *appControl) removeCgroups(name string) {
	dirs := c.own[name]
	delete(c.own, name)
	if len(dirs) == 0 {
		return
	}
	g := &cgroup.Group{Dirs: dirs}
	if err := g.Kill(cgroup.KillWait); err != nil {
		c.rc.Warn(err)
		return
	}
	if err := g.Remove(); err != nil {
		c.rc.Warn(err)
	}
}

// serveInitControl is the init's end: it passes each app verb to the
// Supervisor and answers with its reply, until stage1 closes the socket
// or the pod ends.
func serveInitControl(f *os.File, control chan<- kit.AppRequest) {
	defer f.Close()
	dec, enc := json.NewDecoder(f), json.NewEncoder(f)
	for {
		var r kit.AppRequest
		if err := dec.Decode(&r); err != nil {
			return
		}
		reply := make(chan error, 1)
		r.Reply = reply
		control <- r
		var rep initReply
		if err := <-reply; err != nil {
			rep.Error = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return
		}
	}
}
