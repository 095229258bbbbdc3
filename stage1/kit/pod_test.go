package kit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"podctl/stage1"
)

// With AppCgroupsLater, the pod's cgroup is made first and the apps'
// below it when the flavor asks, once: each spec then names its own
// folders, which End removes with the pod's.
func TestMakeAppCgroupsLater(t *testing.T) {
	p := newCgroupTestPod(t)
	specs := make([]AppSpec, 2)
	specs[0].Name, specs[1].Name = "one", "two"
	Confine(specs)
	g, err := NewPodCgroupFor(p, specs)
	if err != nil {
		t.Fatal(err)
	}
	pod := &Pod{RC: &stage1.RunContext{Pod: p, Warn: func(err error) { t.Error(err) }}, Specs: specs, Group: g, appChildren: true}
	pod.Defer(g.Remove)
	ended := false
	defer func() {
		if !ended {
			pod.End()
		}
	}()
	for _, s := range pod.Specs {
		if len(s.Cgroups) != 0 {
			t.Fatalf("app %s has cgroups before MakeAppCgroups: %v", s.Name, s.Cgroups)
		}
	}
	for range 2 {
		if err := pod.MakeAppCgroups(); err != nil {
			t.Fatal(err)
		}
	}
	var own []string
	for _, s := range pod.Specs {
		// Its own folder in the tracking hierarchy, the pod's in the
		// others, its own in those of its usage and devices.
		if want := filepath.Join(g.Dirs[0], s.Name); len(s.Cgroups) == 0 || s.Cgroups[0] != want {
			t.Errorf("app %s joins %v, first %s", s.Name, s.Cgroups, want)
		}
		if n := len(s.Cgroups); n != len(g.Dirs)+len(s.LimitDirs) {
			t.Errorf("app %s joins %d folders, want the pod's %d and its own %d once: %v", s.Name, n, len(g.Dirs), len(s.LimitDirs), s.Cgroups)
		}
		if len(s.LimitDirs) == 0 {
			t.Errorf("app %s has no folder of its own for its usage and devices", s.Name)
		}
		own = append(append(own, s.Cgroups[0]), s.LimitDirs...)
	}
	for _, d := range own {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Errorf("the app's cgroup %s: %v", d, err)
		}
		if !slices.ContainsFunc(g.Dirs, func(pd string) bool { return filepath.Dir(d) == pd }) {
			t.Errorf("the app's cgroup %s is not right below one of the pod's %v", d, g.Dirs)
		}
	}
	ended = true
	pod.End()
	for _, d := range append(own, g.Dirs...) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is left after End: %v", d, err)
		}
	}
}
