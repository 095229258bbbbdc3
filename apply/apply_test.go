package apply

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/capability"

	"podctl/lifecycle"
	"podctl/podfile"
	"podctl/stage0"
	"podctl/stage1"
)

func parse(t *testing.T, text string) *podfile.Pod {
	t.Helper()
	p, err := podfile.Parse("/pods/web.pod", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMakePlan(t *testing.T) {
	pl, err := makePlan(parse(t, `stopGracePeriod: 30s
restart: on-failure:3
labels: {tier: front}
net: [none]
apps:
  - image: example.com/busybox
    memory: 64Mi
    cpu: 500m
    env: {A: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if pl.grace != 30*time.Second || pl.restart != "on-failure:3" || pl.ready != "started" || pl.backoff != stage1.DefaultRestartBackoff {
		t.Fatalf("plan %+v", pl)
	}
	o := pl.opts
	if o.Name != "web" || o.Source == nil || o.Source.File != "/pods/web.pod" || o.Source.StopGrace != 30*time.Second ||
		len(o.Apps) != 1 || o.Apps[0].Memory != 64<<20 || o.Apps[0].CPU != 500 || o.Apps[0].Env[0].Name != "A" {
		t.Fatalf("options %+v", o)
	}
	def, err := makePlan(parse(t, "apps: [{image: x}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if def.restart != stage1.RestartAlways || def.grace != DefaultStopGrace {
		t.Fatalf("defaults: %+v", def)
	}
}

func TestMakePlanRefusals(t *testing.T) {
	for text, want := range map[string]string{
		"name: beef\napps: [{image: x}]\n":                         `pod name "beef" could be the start of a pod UUID`,
		"restart: sometimes\napps: [{image: x}]\n":                 "sometimes",
		"ready: soon\napps: [{image: x}]\n":                        `ready "soon"`,
		"stopGracePeriod: long\napps: [{image: x}]\n":              `stop grace period "long"`,
		"restartBackoff: 0s\napps: [{image: x}]\n":                 `restart backoff "0s"`,
		"ports: [\"80\"]\napps: [{image: x}]\n":                    `--port "80"`,
		"volumes: [{name: v, kind: host}]\napps: [{image: x}]\n":   "volume",
		"apps: [{image: x, memory: 1Mi}]\n":                        "--memory 1Mi is below 6Mi",
		"apps: [{image: x, mounts: [{volume: v, target: rel}]}]\n": "target must be an absolute path",
		"apps: [{image: x, capsRetain: [CAP_NOPE]}]\n":             "NOPE",
		"apps: [{image: x, env: {PODCTL_POD_UUID: x}}]\n":          "PODCTL_POD_UUID is set by podctl",
	} {
		_, err := makePlan(parse(t, text))
		if err == nil || !strings.HasPrefix(err.Error(), "/pods/web.pod: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want the file and %q", text, err, want)
		}
	}
}

func TestKubeCapabilities(t *testing.T) {
	pl, err := makePlan(parse(t, `apiVersion: v1
kind: Pod
spec:
  containers:
  - image: x
    securityContext: {capabilities: {add: [NET_ADMIN], drop: [CHOWN]}}
  - image: y
    securityContext: {capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}
  - image: z
    securityContext: {capabilities: {drop: [KILL]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := pl.opts.Apps[0], pl.opts.Apps[1], pl.opts.Apps[2]
	if !slices.Contains(a.CapsRetain, capability.CAP_NET_ADMIN) || slices.Contains(a.CapsRetain, capability.CAP_CHOWN) ||
		len(a.CapsRetain) != len(stage1.DefaultCapabilities) || a.CapsRemove != nil {
		t.Errorf("add NET_ADMIN, drop CHOWN: retain %v remove %v", a.CapsRetain, a.CapsRemove)
	}
	if !slices.Equal(b.CapsRetain, []capability.Cap{capability.CAP_NET_BIND_SERVICE}) || b.CapsRemove != nil {
		t.Errorf("drop ALL, add NET_BIND_SERVICE: retain %v remove %v", b.CapsRetain, b.CapsRemove)
	}
	if c.CapsRetain != nil || !slices.Equal(c.CapsRemove, []capability.Cap{capability.CAP_KILL}) {
		t.Errorf("drop KILL: retain %v remove %v", c.CapsRetain, c.CapsRemove)
	}
}

func TestDecide(t *testing.T) {
	pl, err := makePlan(parse(t, "apps: [{image: x}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	job, err := makePlan(parse(t, "restart: \"no\"\napps: [{image: x}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	pod := func(file, digest string, st stage0.PodState) *stage0.PodInfo {
		return &stage0.PodInfo{State: st, Source: &stage0.SourceInfo{File: file, Digest: digest}}
	}
	running := stage0.PodState{Lifecycle: lifecycle.Running}
	exited := stage0.PodState{Lifecycle: lifecycle.Exited}
	for _, c := range []struct {
		pl   *plan
		cur  *stage0.PodInfo
		keep bool
		why  string
	}{
		{pl, pod(pl.pod.File, pl.pod.Digest, running), true, "runs as its file says"},
		{pl, pod(pl.pod.File, "sha256:other", running), false, "file changed"},
		{pl, pod("/elsewhere.pod", pl.pod.Digest, running), false, "came from /elsewhere.pod"},
		{pl, pod(pl.pod.File, pl.pod.Digest, stage0.PodState{Lifecycle: lifecycle.Running, Condition: stage0.Terminating}), false, "being stopped"},
		{pl, pod(pl.pod.File, pl.pod.Digest, exited), false, "has ended"},
		{job, pod(job.pod.File, job.pod.Digest, exited), true, "restart policy is no"},
		{pl, pod(pl.pod.File, pl.pod.Digest, stage0.PodState{Lifecycle: lifecycle.Prepared}), false, "not running"},
	} {
		keep, why := decide(c.pl, c.cur)
		if keep != c.keep || !strings.Contains(why, c.why) {
			t.Errorf("%+v: got %v %q, want %v %q", c.cur.State, keep, why, c.keep, c.why)
		}
	}
}

func TestPrunable(t *testing.T) {
	web, err := makePlan(parse(t, "apps: [{image: x}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := &run{}
	pod := func(name, file string) *stage0.PodInfo {
		return &stage0.PodInfo{Name: name, Source: &stage0.SourceInfo{File: file}}
	}
	plans := []*plan{web}
	broken := map[string]bool{"/pods/broken.pod": true}
	for _, c := range []struct {
		pi    *stage0.PodInfo
		scope string
		want  bool
	}{
		{pod("web", "/pods/web.pod"), "/pods", false},           // its file's: applied
		{pod("gone", "/pods/gone.pod"), "/pods", true},          // file gone
		{pod("old", "/pods/web.pod"), "/pods", true},            // its file names web now
		{pod("broken", "/pods/broken.pod"), "/pods", false},     // broken file: kept
		{pod("other", "/elsewhere/other.pod"), "/pods", false},  // not in scope
		{pod("deep", "/pods/sub/deep.pod"), "/pods", false},     // below the folder: not in scope
		{pod("gone", "/pods/gone.pod"), "/pods/web.pod", false}, // one file applied: others kept
		{&stage0.PodInfo{Name: "hand"}, "/pods", false},         // not from a file
	} {
		if got := r.prunable(c.pi, c.scope, plans, broken); got != c.want {
			t.Errorf("pod %s of %v, scope %s: prunable %v, want %v", c.pi.Name, c.pi.Source, c.scope, got, c.want)
		}
	}
}

// TestGenerateRefusesShared checks that the generator gives no unit to a
// broken file, nor to two files that give one pod name, and says each.
func TestGenerateRefusesShared(t *testing.T) {
	pods, out := t.TempDir(), t.TempDir()
	files := map[string]string{
		"web.pod":   "apps: [{image: example.com/busybox}]\n",
		"twin1.pod": "name: twin\napps: [{image: example.com/busybox}]\n",
		"twin2.pod": "name: twin\napps: [{image: example.com/busybox}]\n",
		"bad.pod":   "apps: [{image: x, nope: 1}]\n",
	}
	for n, text := range files {
		if err := os.WriteFile(filepath.Join(pods, n), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var said strings.Builder
	if err := Generate(pods, out, "/usr/bin/podctl", &said); err == nil || !strings.Contains(err.Error(), "3 pod files") {
		t.Fatalf("Generate: %v, want 3 files without a unit", err)
	}
	for _, want := range []string{"twin1.pod: pod name twin is also given by", "twin2.pod: pod name twin is also given by", "bad.pod:1:"} {
		if !strings.Contains(said.String(), want) {
			t.Errorf("the generator did not say %q:\n%s", want, said.String())
		}
	}
	units, _ := filepath.Glob(filepath.Join(out, "*.service"))
	if len(units) != 1 || filepath.Base(units[0]) != UnitName("web") {
		t.Fatalf("units %v, want only %s", units, UnitName("web"))
	}
	if _, err := os.Stat(filepath.Join(out, "multi-user.target.wants", UnitName("web"))); err != nil {
		t.Fatal(err)
	}
}

// TestCheckImages checks that a replacement is refused for an image the
// store lacks, and not for those prepare fetches itself.
func TestCheckImages(t *testing.T) {
	r := &run{c: stage0.Config{DataDir: t.TempDir()}}
	for _, ref := range []string{"docker://example.com/busybox", "https://example.com/busybox.aci", "http://example.com/busybox.aci"} {
		pl := &plan{opts: &stage0.PrepareOptions{Apps: []stage0.AppOptions{{Image: ref}}}}
		if err := r.checkImages(pl); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	pl := &plan{opts: &stage0.PrepareOptions{Apps: []stage0.AppOptions{{Image: "example.com/none"}}}}
	if err := r.checkImages(pl); err == nil {
		t.Error("example.com/none, which the store lacks, passed")
	}
}
