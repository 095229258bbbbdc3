package cli

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"podctl/stage0"
	"podctl/stage1"
)

func TestParseApps(t *testing.T) {
	pod := stage0.EnvVar{Name: "POD", Value: "1"}
	v := stage0.Mount{Volume: "v", Target: "/v", Spec: "volume=v,target=/v"}
	def := stage0.AppOptions{Exec: "/bin/default", Env: []stage0.EnvVar{pod}, Mounts: []stage0.Mount{v}}
	apps, err := parseApps(def, strings.Fields(
		"img-a --name a --environment A=1 -- one -- two --- img-b --exec /bin/b --mount volume=w,target=/w --- img-c"))
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 3 {
		t.Fatalf("%d apps, want 3: %+v", len(apps), apps)
	}
	a, b, c := apps[0], apps[1], apps[2]
	if a.Image != "img-a" || a.Name != "a" || a.Exec != "/bin/default" {
		t.Errorf("app a: %+v", a)
	}
	// Everything after the first "--" up to "---" is the app's, "--" too.
	if !reflect.DeepEqual(a.Args, []string{"one", "--", "two"}) {
		t.Errorf("app a args %q", a.Args)
	}
	if !reflect.DeepEqual(a.Env, []stage0.EnvVar{pod, {Name: "A", Value: "1"}}) {
		t.Errorf("app a env %q: want the pod's first, then its own", a.Env)
	}
	if b.Image != "img-b" || b.Exec != "/bin/b" || b.Name != "" || b.Args != nil {
		t.Errorf("app b: %+v", b)
	}
	if !reflect.DeepEqual(b.Mounts, []stage0.Mount{v, {Volume: "w", Target: "/w", Spec: "volume=w,target=/w"}}) {
		t.Errorf("app b mounts %q", b.Mounts)
	}
	if c.Image != "img-c" || !reflect.DeepEqual(c.Env, []stage0.EnvVar{pod}) {
		t.Errorf("app c: %+v", c)
	}
	// The defaults were not changed by the apps.
	if !reflect.DeepEqual(def.Env, []stage0.EnvVar{pod}) {
		t.Errorf("defaults changed: %+v", def)
	}
}

func TestParseAppsRefuses(t *testing.T) {
	for _, args := range []string{
		"",
		"img --no-such-flag",
		"img --exec",
	} {
		if _, err := parseApps(stage0.AppOptions{}, strings.Fields(args)); err == nil {
			t.Errorf("parseApps(%q) succeeded", args)
		}
	}
}

func TestParseAppsSettings(t *testing.T) {
	adj := -5
	rl := func(s string) stage1.Rlimit {
		r, err := stage0.ParseRlimit(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	core0 := rl("core=0")
	def := stage0.AppOptions{OOMScoreAdj: &adj, Rlimits: []stage1.Rlimit{core0}}
	apps, err := parseApps(def, strings.Fields(
		"img-a --rlimit nofile=1000:2000 --rlimit=RLIMIT_CORE=unlimited --oom-score-adj 500 --- img-b --oom-score-adj -1000 --- img-c"))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := apps[0], apps[1], apps[2]
	// An app's limits come after the defaults, which stage0 lets them
	// override.
	if !reflect.DeepEqual(a.Rlimits, []stage1.Rlimit{core0, rl("nofile=1000:2000"), rl("core=unlimited")}) {
		t.Errorf("app a rlimits %q", a.Rlimits)
	}
	if a.OOMScoreAdj == nil || *a.OOMScoreAdj != 500 {
		t.Errorf("app a oom-score-adj %v, want 500", a.OOMScoreAdj)
	}
	// A negative value after the flag is its value, not a flag.
	if b.OOMScoreAdj == nil || *b.OOMScoreAdj != -1000 {
		t.Errorf("app b oom-score-adj %v, want -1000", b.OOMScoreAdj)
	}
	if c.OOMScoreAdj == nil || *c.OOMScoreAdj != -5 || !reflect.DeepEqual(c.Rlimits, []stage1.Rlimit{core0}) {
		t.Errorf("app c: %+v: want the defaults", c)
	}
	if adj != -5 || !reflect.DeepEqual(def.Rlimits, []stage1.Rlimit{core0}) {
		t.Errorf("defaults changed: %d %q", adj, def.Rlimits)
	}
	// Unset is not 0: the app keeps the oom_score_adj it inherits.
	apps, err = parseApps(stage0.AppOptions{}, []string{"img"})
	if err != nil {
		t.Fatal(err)
	}
	if apps[0].OOMScoreAdj != nil || apps[0].Rlimits != nil {
		t.Errorf("no settings given, got %+v", apps[0])
	}
	if apps, err = parseApps(stage0.AppOptions{}, []string{"img", "--oom-score-adj=0"}); err != nil || apps[0].OOMScoreAdj == nil || *apps[0].OOMScoreAdj != 0 {
		t.Errorf("--oom-score-adj=0: %+v, %v", apps, err)
	}
}

func TestParseAppsRefusesSettings(t *testing.T) {
	for _, args := range []string{
		"img --oom-score-adj",
		"img --oom-score-adj lots",
		"img --oom-score-adj 1.5",
		"img --rlimit",
	} {
		if _, err := parseApps(stage0.AppOptions{}, strings.Fields(args)); err == nil {
			t.Errorf("parseApps(%q) succeeded", args)
		}
	}
}

// TestPodAndAppName checks that --name before the first image names the
// pod and after an image names the app, and that the pod's identity flags
// reach the options.
func TestPodAndAppName(t *testing.T) {
	var f podFlags
	cmd := &cobra.Command{Use: "run"}
	f.add(cmd)
	err := cmd.Flags().Parse(strings.Fields(
		"--name pod-1 --label tier=web --label env=prod --annotation note=x --set-env-secret TOKEN=/run/token --environment-secret ALL=/run/all " +
			"img-a --name app-a --environment-secret MINE=/run/mine --- img-b"))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := f.options(cmd.Flags().Args())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Name != "pod-1" {
		t.Errorf("pod name %q, want pod-1", opts.Name)
	}
	if !reflect.DeepEqual(opts.Labels, []stage0.KeyValue{{Key: "tier", Value: "web"}, {Key: "env", Value: "prod"}}) ||
		!reflect.DeepEqual(opts.Annotations, []stage0.KeyValue{{Key: "note", Value: "x"}}) {
		t.Errorf("labels %q, annotations %q", opts.Labels, opts.Annotations)
	}
	if !reflect.DeepEqual(opts.SetEnvSecrets, []stage0.Secret{{Name: "TOKEN", File: "/run/token"}}) {
		t.Errorf("pod secrets %q", opts.SetEnvSecrets)
	}
	a, b := opts.Apps[0], opts.Apps[1]
	if a.Name != "app-a" || b.Name != "" {
		t.Errorf("app names %q and %q: the pod's --name must not name an app", a.Name, b.Name)
	}
	all, mine := stage0.Secret{Name: "ALL", File: "/run/all"}, stage0.Secret{Name: "MINE", File: "/run/mine"}
	if !reflect.DeepEqual(a.EnvSecrets, []stage0.Secret{all, mine}) || !reflect.DeepEqual(b.EnvSecrets, []stage0.Secret{all}) {
		t.Errorf("app secrets %q and %q", a.EnvSecrets, b.EnvSecrets)
	}
}

// TestParseAppsPositional checks that images may follow each other
// without "---", each with its own flags, and that "---" still ends the
// arguments after "--".
func TestParseAppsPositional(t *testing.T) {
	apps, err := parseApps(stage0.AppOptions{Exec: "/bin/def"}, strings.Fields(
		"img-a img-b --name b --exec /bin/b img-c --user /etc/owner -- x y --- img-d img-e"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.Image+":"+a.Name+":"+a.Exec+":"+a.User+":"+strings.Join(a.Args, " "))
	}
	want := []string{"img-a::/bin/def::", "img-b:b:/bin/b::", "img-c::/bin/def:/etc/owner:x y", "img-d::/bin/def::", "img-e::/bin/def::"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if apps[0].Args != nil {
		t.Errorf("img-a has arguments %q", apps[0].Args)
	}
	apps, err = parseApps(stage0.AppOptions{}, strings.Fields("img --supplementary-gids 10,27"))
	if err != nil || !reflect.DeepEqual(apps[0].SupplementaryGIDs, []int{10, 27}) {
		t.Errorf("--supplementary-gids: %+v, %v", apps, err)
	}
	for _, bad := range []string{"img --supplementary-gids x", "img --supplementary-gids -1", "img --supplementary-gids"} {
		if _, err := parseApps(stage0.AppOptions{}, strings.Fields(bad)); err == nil {
			t.Errorf("parseApps(%q) succeeded", bad)
		}
	}
}

func TestStrayHint(t *testing.T) {
	_, following, err := parseAppsNoting(stage0.AppOptions{}, strings.Fields("img-a --name a echo --- img-b hello"))
	if err != nil || !reflect.DeepEqual(following, []string{"echo", "hello"}) {
		t.Fatalf("following %q, %v", following, err)
	}
	got := strayHint(fmt.Errorf(`no image "hello" in the store: fetch it first`), following)
	if !strings.Contains(got.Error(), `hello follows an image's flags`) || strings.Contains(got.Error(), "\n") {
		t.Errorf("hint %q", got)
	}
	other := fmt.Errorf(`no image "img-a" in the store`)
	if strayHint(other, following) != other {
		t.Error("the first image of a section got the hint")
	}
}
