package stage0

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"

	"podctl/stage1"
)

// refusal is a value a parser refuses, and what its one line says.
type refusal struct{ in, want string }

// checkRefusals runs parse on each value and wants a usage error of one
// line saying want.
func checkRefusals[T any](t *testing.T, what string, parse func(string) (T, error), cases []refusal) {
	t.Helper()
	for _, c := range cases {
		_, err := parse(c.in)
		if !errors.Is(err, ErrUsage) || err.Error() != c.want {
			t.Errorf("%s %q: error %v, want a usage error %q", what, c.in, err, c.want)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"6Mi": 6 << 20, "7M": 7e6, "64M": 64e6, "1G": 1e9, "1.5Gi": 3 << 29, "6291456": 6 << 20} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	checkRefusals(t, "--memory", ParseMemory, []refusal{
		{"lots", `--memory "lots" is not a size such as 64M or 1G`},
		{"", `--memory "" is not a size such as 64M or 1G`},
		{"0", `--memory "0" is not a size such as 64M or 1G`},
		{"-64M", `--memory "-64M" is not a size such as 64M or 1G`},
		{"1M", "--memory 1M is below 6Mi (6,291,456 bytes), the least an app can start in: give at least 6Mi"},
		{"1", "--memory 1 is below 6Mi (6,291,456 bytes), the least an app can start in: give at least 6Mi"},
		{"5Mi", "--memory 5Mi is below 6Mi (6,291,456 bytes), the least an app can start in: give at least 6Mi"},
		{"6M", "--memory 6M is below 6Mi (6,291,456 bytes), the least an app can start in: give at least 6Mi"},
	})
}

func TestParseCPU(t *testing.T) {
	for in, want := range map[string]int64{"500m": 500, "2": 2000, "0.25": 250, "10m": 10, "0.01": 10} {
		if got, err := ParseCPU(in); err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	checkRefusals(t, "--cpu", ParseCPU, []refusal{
		{"fast", `--cpu "fast" is not a share of a core such as 500m or 2`},
		{"0", `--cpu "0" is not a share of a core such as 500m or 2`},
		{"-1", `--cpu "-1" is not a share of a core such as 500m or 2`},
		{"1m", `--cpu 1m is below 10m, the least the kernel gives (1 ms in each 100 ms): give at least 10m`},
		{"9m", `--cpu 9m is below 10m, the least the kernel gives (1 ms in each 100 ms): give at least 10m`},
		{"0.001", `--cpu 0.001 is below 10m, the least the kernel gives (1 ms in each 100 ms): give at least 10m`},
	})
}

// The isolators written for a typed limit read back as the same limit.
func TestLimitIsolators(t *testing.T) {
	for _, c := range []struct {
		memory, cpu int64
		mem, cores  string
	}{{64e6, 500, "64M", "500m"}, {64 << 20, 2000, "64Mi", "2"}, {6 << 20, 10, "6Mi", "10m"}} {
		// As stage1 reads them: from the manifest's JSON.
		b, err := json.Marshal(limitIsolators(&AppOptions{Memory: c.memory, CPU: c.cpu}))
		if err != nil {
			t.Fatal(err)
		}
		var isos types.Isolators
		if err := json.Unmarshal(b, &isos); err != nil || len(isos) != 2 {
			t.Fatalf("isolators %s: %v", b, err)
		}
		m := isos[0].Value().(*types.ResourceMemory).Limit()
		cpu := isos[1].Value().(*types.ResourceCPU).Limit()
		if m.Value() != c.memory || m.String() != c.mem || cpu.MilliValue() != c.cpu || cpu.String() != c.cores {
			t.Errorf("memory %d, cpu %d: isolators %s (%d), %s (%d)", c.memory, c.cpu, m, m.Value(), cpu, cpu.MilliValue())
		}
	}
	if isos := limitIsolators(&AppOptions{}); len(isos) != 0 {
		t.Errorf("no limits given, isolators %v", isos)
	}
}

func TestParseEnv(t *testing.T) {
	for in, want := range map[string]EnvVar{"A=1": {"A", "1"}, "A=": {"A", ""}, "A=b=c": {"A", "b=c"}} {
		if got, err := ParseEnv(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseEnv(%q) = %+v, %v", in, got, err)
		}
	}
	checkRefusals(t, "environment", ParseEnv, []refusal{
		{"A", `environment setting "A" is not KEY=VALUE`},
		{"=1", `environment setting "=1" is not KEY=VALUE`},
		{stage1.EnvPodUUID + "=x", stage1.EnvPodUUID + " is set by podctl in every app: it cannot be given"},
		{stage1.EnvPodName + "=x", stage1.EnvPodName + " is set by podctl in every app: it cannot be given"},
	})
}

func TestParseSecret(t *testing.T) {
	wd, _ := os.Getwd()
	if got, err := ParseSecret("--set-env-secret", "TOKEN=token"); err != nil || got != (Secret{"TOKEN", filepath.Join(wd, "token")}) {
		t.Errorf("a relative file: %+v, %v", got, err)
	}
	parse := func(s string) (Secret, error) { return ParseSecret("--environment-secret", s) }
	checkRefusals(t, "--environment-secret", parse, []refusal{
		{"TOKEN", `--environment-secret "TOKEN" is not NAME=FILE`},
		{"=/f", `--environment-secret "=/f" is not NAME=FILE`},
		{"TOKEN=", `--environment-secret "TOKEN=" is not NAME=FILE`},
		{stage1.EnvPodName + "=/f", stage1.EnvPodName + " is set by podctl in every app: it cannot be given"},
	})
}

func TestParseMount(t *testing.T) {
	m, err := ParseMount("target=/data/,volume=v")
	if err != nil || m != (Mount{Volume: "v", Target: "/data", Spec: "target=/data/,volume=v"}) {
		t.Errorf("ParseMount: %+v, %v", m, err)
	}
	for _, ok := range []string{"volume=a,target=/devices", "volume=b,target=/system"} {
		if _, err := ParseMount(ok); err != nil {
			t.Errorf("mount %q refused: %v", ok, err)
		}
	}
	checkRefusals(t, "--mount", ParseMount, []refusal{
		{"volume=a,dest=/x", `mount "volume=a,dest=/x": unknown key "dest" (write volume=NAME,target=/PATH)`},
		{"volume=a,target=data", `mount "volume=a,target=data": target must be an absolute path`},
		{"volume=a", `mount "volume=a": target must be an absolute path`},
		{"volume=a,target=/proc", `mount "volume=a,target=/proc": /proc is stage1's (it mounts /proc itself): choose a target outside /proc, /sys and /dev`},
	})
	for _, c := range []refusal{
		{"volume=a,target=/sys/fs/cgroup", "/sys/fs/cgroup is stage1's"},
		{"volume=a,target=/dev/../dev/shm", "/dev/shm is stage1's"},
	} {
		if _, err := ParseMount(c.in); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("mount %q: error %v, want a usage error saying %q", c.in, err, c.want)
		}
	}
}

func TestParseVolume(t *testing.T) {
	v, err := ParseVolume("data,kind=host,source=/tmp,readOnly=true")
	if err != nil || v.Name != "data" || v.Kind != "host" || v.Source != "/tmp" || v.ReadOnly == nil || !*v.ReadOnly {
		t.Errorf("ParseVolume: %+v, %v", v, err)
	}
	checkRefusals(t, "--volume", ParseVolume, []refusal{
		{"data,kind=empty,mode=999", `volume data: mode "999" is not an octal number such as 0755`},
		{"data,kind=host,source=tmp", `volume "data,kind=host,source=tmp": source for host volume must be absolute path (write NAME,kind=host,source=/PATH[,readOnly=true] or NAME,kind=empty)`},
	})
	if _, err := ParseVolume("data,kind=elsewhere"); !errors.Is(err, ErrUsage) || !strings.HasPrefix(err.Error(), `volume "data,kind=elsewhere": `) ||
		!strings.HasSuffix(err.Error(), "(write NAME,kind=host,source=/PATH[,readOnly=true] or NAME,kind=empty)") {
		t.Errorf("an unknown kind: %v", err)
	}
}

func TestParseLabelAndAnnotation(t *testing.T) {
	for _, ok := range []string{"tier=web", "example.com/team=core", "empty="} {
		if kv, err := ParseLabel(ok); err != nil || kv.String() != ok {
			t.Errorf("ParseLabel(%q) = %v, %v", ok, kv, err)
		}
	}
	long := strings.Repeat("k", 254)
	keyRule := "use up to 253 letters, digits and . _ / -, starting and ending with a letter or digit"
	checkRefusals(t, "--label", ParseLabel, []refusal{
		{"tier", `--label "tier" is not KEY=VALUE`},
		{"=web", `label key "" is not valid: ` + keyRule},
		{"ti er=x", `label key "ti er" is not valid: ` + keyRule},
		{"-tier=x", `label key "-tier" is not valid: ` + keyRule},
		{long + "=v", `label key "` + long + `" is not valid: ` + keyRule},
		{"tier=a,b", `label tier: value "a,b" is not valid: use up to 253 printable characters, without a comma`},
		{"tier=a\nb", `label tier: value "a\nb" is not valid: use up to 253 printable characters, without a comma`},
	})
	if kv, err := ParseAnnotation("note=a, b\nand c"); err != nil || kv.Value != "a, b\nand c" {
		t.Errorf("ParseAnnotation: %v, %v", kv, err)
	}
	checkRefusals(t, "--annotation", ParseAnnotation, []refusal{
		{"note", `--annotation "note" is not KEY=VALUE`},
		{"note=\x00", "annotation note: the value is not valid: use up to 65536 bytes of UTF-8 text without NUL"},
	})
	if _, err := pairMap("label", []KeyValue{{"tier", "x"}, {"tier", "y"}}); !errors.Is(err, ErrUsage) || err.Error() != "label tier is given twice: give it once" {
		t.Errorf("a label given twice: %v", err)
	}
}

func TestParseRlimitAndSettings(t *testing.T) {
	if r, err := ParseRlimit("RLIMIT_NOFILE=10:20"); err != nil || r.Name != "nofile" || r.Soft != 10 || r.Hard != 20 {
		t.Errorf("ParseRlimit: %+v, %v", r, err)
	}
	for _, bad := range []string{"nofile", "nothing=1", "nofile=lots", "nofile=2:1"} {
		if _, err := ParseRlimit(bad); !errors.Is(err, ErrUsage) || !strings.HasPrefix(err.Error(), `--rlimit "`+bad+`": `) {
			t.Errorf("--rlimit %q: error %v", bad, err)
		}
	}
	a, _ := ParseRlimit("core=0")
	b, _ := ParseRlimit("nofile=1000:2000")
	c, _ := ParseRlimit("RLIMIT_CORE=unlimited")
	if got := mergeRlimits([]stage1.Rlimit{a, b, c}); !reflect.DeepEqual(got, []stage1.Rlimit{c, b}) {
		t.Errorf("mergeRlimits: %v, want the later core limit first", got)
	}
	if n, err := ParseOOMScoreAdj("-1000"); err != nil || n != -1000 {
		t.Errorf("ParseOOMScoreAdj: %d, %v", n, err)
	}
	if _, err := ParseOOMScoreAdj("1001"); !errors.Is(err, ErrUsage) {
		t.Errorf("--oom-score-adj 1001: %v", err)
	}
	if _, err := ParseOOMScoreAdj("lots"); err == nil || err.Error() != `"lots" is not a whole number` {
		t.Errorf("--oom-score-adj lots: %v", err)
	}
	for in, want := range map[string]string{"0": "0 is below 1: give at least 1, or leave the flag out for no limit",
		"-1": "-1 is negative: give at least 1, or leave the flag out for no limit", "x": `"x" is not a whole number`} {
		if _, err := ParsePidsLimit(in); err == nil || err.Error() != want {
			t.Errorf("--pids-limit %s: %v, want %q", in, err, want)
		}
	}
}

// mustParse returns parse(s), failing the test on an error.
func mustParse[T any](t *testing.T, parse func(string) (T, error), s string) T {
	t.Helper()
	v, err := parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCheckMounts(t *testing.T) {
	vols := []types.Volume{mustParse(t, ParseVolume, "a,kind=empty"), mustParse(t, ParseVolume, "b,kind=empty")}
	twice := []Mount{mustParse(t, ParseMount, "volume=a,target=/data"), mustParse(t, ParseMount, "volume=b,target=/data/")}
	if _, err := checkMounts(twice, vols); !errors.Is(err, ErrUsage) ||
		err.Error() != `mount "volume=b,target=/data/": the app already has a mount on /data: give each target one --mount` {
		t.Errorf("two mounts on /data: %v", err)
	}
	none := []Mount{mustParse(t, ParseMount, "volume=c,target=/c")}
	if _, err := checkMounts(none, vols); !errors.Is(err, ErrUsage) || err.Error() != `mount "volume=c,target=/c": no volume "c": add it with --volume` {
		t.Errorf("a mount of no volume: %v", err)
	}
	ok := []Mount{mustParse(t, ParseMount, "volume=a,target=/data"), mustParse(t, ParseMount, "volume=b,target=/data2")}
	if ms, err := checkMounts(ok, vols); err != nil || len(ms) != 2 || ms[1].Volume != "b" || ms[1].Path != "/data2" {
		t.Errorf("mounts %v: %v, %v", ok, ms, err)
	}
}

// A bad option of the second app is refused before anything exists: no
// pod, not even the data directory.
func TestPlanRefusesBeforeAnyPod(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vol := mustParse(t, ParseVolume, "data,kind=empty")
	good := AppOptions{Image: "example.com/a", Mounts: []Mount{mustParse(t, ParseMount, "volume=data,target=/data")}}
	for _, c := range []struct {
		what string
		bad  AppOptions
		pod  func(*PrepareOptions)
		want string
	}{
		{"a mount of no volume", AppOptions{Mounts: []Mount{mustParse(t, ParseMount, "volume=other,target=/o")}}, nil, `no volume "other"`},
		{"a secret file missing", AppOptions{EnvSecrets: []Secret{{"TOKEN", filepath.Join(dir, "nope")}}}, nil, "--environment-secret TOKEN: "},
		{"a bad app name", AppOptions{Name: "Not_A_Name"}, nil, `app name "Not_A_Name" is not valid`},
		{"a relative working directory", AppOptions{WorkingDir: "work"}, nil, `working directory "work" is not an absolute path`},
		{"a negative pids limit", AppOptions{PidsLimit: -1}, nil, "--pids-limit -1 is negative"},
		{"a host volume missing", AppOptions{}, func(o *PrepareOptions) {
			o.Volumes = append(o.Volumes, mustParse(t, ParseVolume, "host,kind=host,source="+filepath.Join(dir, "nope")))
		}, "volume host: source " + filepath.Join(dir, "nope") + " does not exist"},
		{"two volumes of one name", AppOptions{}, func(o *PrepareOptions) { o.Volumes = append(o.Volumes, vol) }, `two volumes are named "data"`},
		{"a label given twice", AppOptions{}, func(o *PrepareOptions) { o.Labels = []KeyValue{{"a", "1"}, {"a", "2"}} }, "label a is given twice"},
	} {
		c.bad.Image = "example.com/b"
		opts := &PrepareOptions{Apps: []AppOptions{good, c.bad}, Volumes: []types.Volume{vol},
			SetEnvSecrets: []Secret{{"POD", secret}}}
		if c.pod != nil {
			c.pod(opts)
		}
		conf := Config{DataDir: filepath.Join(dir, "data")}
		_, err := prepare(conf, opts, "fly")
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want a usage error saying %q", c.what, err, c.want)
		}
		if _, err := os.Stat(conf.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the data directory was made: %v", c.what, err)
		}
	}
}

// The plan keeps the pod's secrets for every app, an app's own winning,
// and each app's limits merged, the last for a resource winning.
func TestPlanMergesAppSettings(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"pod", "mine"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	core0, core1 := mustParse(t, ParseRlimit, "core=0"), mustParse(t, ParseRlimit, "core=1")
	opts := &PrepareOptions{
		SetEnvSecrets: []Secret{{"A", filepath.Join(dir, "pod")}, {"B", filepath.Join(dir, "pod")}},
		Apps: []AppOptions{{Image: "x", EnvSecrets: []Secret{{"B", filepath.Join(dir, "mine")}}, Rlimits: []stage1.Rlimit{core0, core1}},
			{Image: "y"}},
	}
	pl, err := checkOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	if a := pl.apps[0]; a.secrets["A"] != filepath.Join(dir, "pod") || a.secrets["B"] != filepath.Join(dir, "mine") || !reflect.DeepEqual(a.rlimits, []stage1.Rlimit{core1}) {
		t.Errorf("app x: secrets %v, rlimits %v", a.secrets, a.rlimits)
	}
	if b := pl.apps[1]; len(b.secrets) != 2 || b.secrets["B"] != filepath.Join(dir, "pod") || b.rlimits != nil {
		t.Errorf("app y: secrets %v, rlimits %v", b.secrets, b.rlimits)
	}
}
