package kit

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"podctl/cgroup"
)

// A hybrid host as the project's machines are: v1 hierarchies, the
// unified one at /sys/fs/cgroup/unified.
var hybridMounts = []cgroup.Mount{
	{Dir: "/sys/fs/cgroup/cpu", Controllers: []string{"cpu"}},
	{Dir: "/sys/fs/cgroup/cpuacct", Controllers: []string{"cpuacct"}},
	{Dir: "/sys/fs/cgroup/memory", Controllers: []string{"memory"}},
	{Dir: "/sys/fs/cgroup/devices", Controllers: []string{"devices"}},
	{Dir: "/sys/fs/cgroup/pids", Controllers: []string{"pids"}},
	{Dir: "/sys/fs/cgroup/systemd", Controllers: []string{"name=systemd"}},
	{Dir: "/sys/fs/cgroup/unified", V2: true},
}

func procCgroup(t *testing.T, text string) map[string]string {
	t.Helper()
	m, err := cgroup.ParseProcCgroup(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEnterCgroups(t *testing.T) {
	const pod = "podctl-0a1b"
	podDirs := []string{
		"/sys/fs/cgroup/unified/" + pod,
		"/sys/fs/cgroup/memory/user/" + pod,
		"/sys/fs/cgroup/pids/" + pod,
		"/sys/fs/cgroup/devices/" + pod,
	}
	// A systemd pod also has a folder in name=systemd.
	systemdDirs := append(podDirs[:len(podDirs):len(podDirs)], "/sys/fs/cgroup/systemd/"+pod)
	for _, c := range []struct {
		name, proc string
		podDirs    []string
		want       []string
		err        string
	}{{
		name:    "a native app: its own folders where the pod has one, nothing elsewhere",
		podDirs: podDirs,
		proc:    "9:name=systemd:/\n8:pids:/" + pod + "/web\n5:devices:/" + pod + "/web\n4:memory:/user/" + pod + "/web\n2:cpuacct:/\n1:cpu:/\n0::/" + pod + "/web\n",
		want: []string{
			"/sys/fs/cgroup/memory/user/" + pod + "/web",
			"/sys/fs/cgroup/devices/" + pod + "/web",
			"/sys/fs/cgroup/pids/" + pod + "/web",
			"/sys/fs/cgroup/unified/" + pod + "/web",
		},
	}, {
		name:    "a systemd app: its service, deep below the pod",
		podDirs: systemdDirs,
		proc:    "9:name=systemd:/" + pod + "/payload/system.slice/web.service\n8:pids:/" + pod + "/web\n5:devices:/" + pod + "/web\n4:memory:/user/" + pod + "/web\n0::/" + pod + "/payload/system.slice/web.service\n",
		want: []string{
			"/sys/fs/cgroup/memory/user/" + pod + "/web",
			"/sys/fs/cgroup/devices/" + pod + "/web",
			"/sys/fs/cgroup/pids/" + pod + "/web",
			"/sys/fs/cgroup/systemd/" + pod + "/payload/system.slice/web.service",
			"/sys/fs/cgroup/unified/" + pod + "/payload/system.slice/web.service",
		},
	}, {
		name:    "a process moved out of the pod",
		podDirs: podDirs,
		proc:    "0::/user.slice\n8:pids:/" + pod + "/web\n",
		err:     "in cgroup /sys/fs/cgroup/unified/user.slice, outside the pod's /sys/fs/cgroup/unified/" + pod,
	}, {
		name:    "in the pod's folder in one hierarchy, at the root of another",
		podDirs: systemdDirs,
		proc:    "9:name=systemd:/\n0::/" + pod + "/web\n",
		err:     "in cgroup /sys/fs/cgroup/systemd, outside",
	}, {
		name:    "a sibling whose name starts with the pod's",
		podDirs: podDirs,
		proc:    "0::/" + pod + "x/web\n",
		err:     "outside the pod's",
	}} {
		t.Run(c.name, func(t *testing.T) {
			got, err := enterCgroups(hybridMounts, c.podDirs, procCgroup(t, c.proc))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, %v; want an error saying %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

// startTime is what tells a process from one that took its pid where
// there are no pidfds: this process's stays the same, a pid without a
// process has none.
func TestStartTime(t *testing.T) {
	a, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := startTime(os.Getpid()); err != nil || b != a {
		t.Fatalf("start time %q then %q, %v", a, b, err)
	}
	if _, err := strconv.ParseUint(a, 10, 64); err != nil {
		t.Fatalf("start time %q is not a number of ticks", a)
	}
	if _, err := startTime(1 << 30); err == nil {
		t.Fatal("a start time for no process")
	}
}
