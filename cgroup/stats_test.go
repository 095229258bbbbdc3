package cgroup

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree makes the files (path -> content) below root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadUsageV2(t *testing.T) {
	root := t.TempDir()
	pod := filepath.Join(root, "podctl-x")
	writeTree(t, pod, map[string]string{
		"cpu.stat":       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
		"memory.current": "4096\n",
		"memory.max":     "max\n",
		"pids.current":   "3\n",
		"io.stat":        "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1\n",
		"web/cpu.stat":   "usage_usec 7\n",
		"web/memory.max": "1048576\n",
	})
	u := ReadUsage([]string{pod})
	want := Usage{CPUNanos: 1500000, MemoryBytes: 4096, Pids: 3, ReadBytes: 101, WriteBytes: 202, Has: HasCPU | HasMemory | HasPids | HasIO}
	if u != want {
		t.Fatalf("pod usage %+v, want %+v", u, want)
	}
	app := ReadUsage(AppDirs([]string{pod}, "web"))
	want = Usage{CPUNanos: 7000, MemoryLimitBytes: 1 << 20, Has: HasCPU | HasMemoryLimit}
	if app != want {
		t.Fatalf("app usage %+v, want %+v", app, want)
	}
}

// The hybrid layout of the project's hosts: the unified hierarchy tracks
// the pod and counts CPU; memory, pids and blkio are v1.
func TestReadUsageHybridV1(t *testing.T) {
	root := t.TempDir()
	dirs := []string{
		filepath.Join(root, "unified/podctl-x"),
		filepath.Join(root, "memory/podctl-x"),
		filepath.Join(root, "pids/podctl-x"),
		filepath.Join(root, "cpuacct/podctl-x"),
		filepath.Join(root, "blkio/podctl-x"),
	}
	writeTree(t, root, map[string]string{
		"unified/podctl-x/cgroup.procs":                            "",
		"memory/podctl-x/memory.usage_in_bytes":                    "8192\n",
		"memory/podctl-x/memory.limit_in_bytes":                    "9223372036854771712\n",
		"memory/podctl-x/a/memory.usage_in_bytes":                  "4096\n",
		"memory/podctl-x/a/memory.limit_in_bytes":                  "20971520\n",
		"pids/podctl-x/pids.current":                               "5\n",
		"pids/podctl-x/a/pids.current":                             "2\n",
		"cpuacct/podctl-x/cpuacct.usage":                           "123456789\n",
		"cpuacct/podctl-x/a/cpuacct.usage":                         "23456789\n",
		"blkio/podctl-x/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n8:16 Read 1\n8:16 Write 2\nTotal 12291\n",
		"blkio/podctl-x/a/blkio.io_service_bytes_recursive":        "8:0 Read 10\n8:0 Write 20\nTotal 30\n",
	})
	u := ReadUsage(dirs)
	want := Usage{CPUNanos: 123456789, MemoryBytes: 8192, Pids: 5, ReadBytes: 4097, WriteBytes: 8194, Has: HasCPU | HasMemory | HasPids | HasIO}
	if u != want {
		t.Fatalf("pod usage %+v, want %+v", u, want)
	}
	appDirs := AppDirs(dirs, "a")
	if len(appDirs) != 4 {
		t.Fatalf("app folders %v, want the 4 v1 ones", appDirs)
	}
	app := ReadUsage(appDirs)
	want = Usage{CPUNanos: 23456789, MemoryBytes: 4096, MemoryLimitBytes: 20 << 20, Pids: 2, ReadBytes: 10, WriteBytes: 20, Has: HasCPU | HasMemory | HasMemoryLimit | HasPids | HasIO}
	if app != want {
		t.Fatalf("app usage %+v, want %+v", app, want)
	}
}

func TestReadUsageNothing(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"p/cpu.stat":       "user_usec 3\n", // no usage_usec
		"p/memory.current": "lots\n",
	})
	if u := ReadUsage([]string{filepath.Join(root, "p"), filepath.Join(root, "gone")}); u != (Usage{}) {
		t.Fatalf("usage of unreadable cgroups %+v, want none", u)
	}
	if u := ReadUsage(nil); u.Has != 0 {
		t.Fatalf("usage of no cgroup %+v", u)
	}
}

// A systemd pod's app lives in a service folder that its systemd made,
// somewhere below the pod's.
func TestAppDirsService(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"unified/podctl-x/init.scope/cgroup.procs":               "1\n",
		"unified/podctl-x/system.slice/web.service/cpu.stat":     "usage_usec 2\n",
		"unified/podctl-x/system.slice/web2.service/cpu.stat":    "usage_usec 9\n",
		"memory/podctl-x/memory.usage_in_bytes":                  "1\n",
		"systemd/podctl-x/system.slice/web.service/cgroup.procs": "",
	})
	dirs := []string{filepath.Join(root, "unified/podctl-x"), filepath.Join(root, "memory/podctl-x"), filepath.Join(root, "systemd/podctl-x")}
	got := AppDirs(dirs, "web")
	want := []string{filepath.Join(root, "unified/podctl-x/system.slice/web.service"), filepath.Join(root, "systemd/podctl-x/system.slice/web.service")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("app folders %v, want %v", got, want)
	}
	u := ReadUsage(got)
	if u.Has != HasCPU || u.CPUNanos != 2000 {
		t.Fatalf("app usage %+v: want its CPU only", u)
	}
}

func TestParsers(t *testing.T) {
	if v, err := ParseValue(strings.NewReader("max\n")); err != nil || v != ^uint64(0) {
		t.Fatalf("max: %d, %v", v, err)
	}
	if _, err := ParseValue(strings.NewReader("")); err == nil {
		t.Fatal("an empty value parsed")
	}
	rw, err := ParseIOStat(strings.NewReader("\n8:0 rbytes=5 wbytes=x\n8:1\n"))
	if err != nil || rw != [2]uint64{5, 0} {
		t.Fatalf("io.stat: %v, %v", rw, err)
	}
	rw, err = ParseBlkio(strings.NewReader("Total 0\n"))
	if err != nil || rw != [2]uint64{} {
		t.Fatalf("empty blkio: %v, %v", rw, err)
	}
}

func TestHasJSON(t *testing.T) {
	b, err := json.Marshal(HasCPU | HasIO)
	if err != nil || string(b) != `["cpu","io"]` {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var h Has
	if err := json.Unmarshal([]byte(`["memory","pids","later"]`), &h); err != nil || h != HasMemory|HasPids {
		t.Fatalf("unmarshal: %v, %v", h, err)
	}
}

func TestStatsControllers(t *testing.T) {
	root := t.TempDir()
	mounts := []Mount{
		{Dir: filepath.Join(root, "memory"), Controllers: []string{"memory"}},
		{Dir: filepath.Join(root, "unified"), V2: true},
	}
	base := filepath.Join(root, "unified")
	writeTree(t, root, map[string]string{"unified/cgroup.subtree_control": ""})
	if got := statsControllers(mounts, base); !reflect.DeepEqual(got, []string{"memory", "pids", "blkio"}) {
		t.Fatalf("hybrid, nothing delegated: %v", got)
	}
	writeTree(t, root, map[string]string{"unified/cgroup.subtree_control": "cpu memory io pids\n"})
	if got := statsControllers(mounts, base); len(got) != 0 {
		t.Fatalf("unified with every controller: %v, want none", got)
	}
	// No unified hierarchy: every measure is v1.
	if got := statsControllers(mounts[:1], filepath.Join(root, "pids")); !reflect.DeepEqual(got, []string{"cpuacct", "memory", "pids", "blkio"}) {
		t.Fatalf("v1 only: %v", got)
	}
}

func TestNewAppGroupStatsChildren(t *testing.T) {
	root := t.TempDir()
	g := &Group{v1: map[string]string{"memory": filepath.Join(root, "memory/pod"), "pids": filepath.Join(root, "pids/pod")},
		stats: []string{"memory", "pids", "blkio"}}
	for _, d := range g.v1 {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// No limits: the app's folders are those its usage is read from.
	dirs, err := g.NewAppGroup("web", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "memory/pod/web"), filepath.Join(root, "pids/pod/web")}
	if !reflect.DeepEqual(dirs, want) {
		t.Fatalf("app folders %v, want %v", dirs, want)
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Fatalf("%s not made: %v", d, err)
		}
	}
	// Again: the folders exist already, which is no error.
	if _, err := g.NewAppGroup("web", Limits{}); err != nil {
		t.Fatal(err)
	}
}
