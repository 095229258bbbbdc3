package stage0

import (
	"strings"
	"testing"
	"time"

	"podctl/lifecycle"
)

func TestParseFilterTime(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for s, want := range map[string]time.Time{
		"2024-05-01T10:00:00Z":        time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		"2024-05-01T10:00:00.5+02:00": time.Date(2024, 5, 1, 8, 0, 0, 5e8, time.UTC),
		"2024-05-01 10:00:00":         time.Date(2024, 5, 1, 10, 0, 0, 0, time.Local),
		"2024-05-01":                  time.Date(2024, 5, 1, 0, 0, 0, 0, time.Local),
		"90m":                         now.Add(-90 * time.Minute),
	} {
		got, err := parseFilterTime(s, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseFilterTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "web", "5b1f2c3d", "0", "-5m", "2024-13-01"} {
		if _, err := parseFilterTime(s, now); err == nil {
			t.Errorf("parseFilterTime(%q) succeeded", s)
		}
	}
}

func TestPodFilter(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	pods := map[string]*PodInfo{
		"a": {UUID: "a", Name: "web-1", State: PodState{Lifecycle: lifecycle.Running}, Labels: map[string]string{"tier": "web", "env": "prod"}, CreatedAt: &t0,
			Apps: []AppInfo{{ImageName: "example.com/busybox", ImageID: "sha512-abcdef", imageVersion: "1.0"}}},
		"b": {UUID: "b", Name: "db-1", State: PodState{Lifecycle: lifecycle.Exited}, Labels: map[string]string{"tier": "db"}, CreatedAt: ptr(t0.Add(time.Minute)),
			Apps: []AppInfo{{ImageName: "example.com/postgres", ImageID: "sha512-123456", imageVersion: "16"}}},
		"c": {UUID: "c", State: PodState{Lifecycle: lifecycle.ExitedGarbage}, Labels: map[string]string{}, CreatedAt: ptr(t0.Add(2 * time.Minute)),
			Apps: []AppInfo{{ImageName: "example.com/busybox", ImageID: "sha512-abcdef", imageVersion: "1.0"}}},
	}
	c := Config{DataDir: t.TempDir()}
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{nil, "abc"},
		{[]string{"state=running"}, "a"},
		{[]string{"state=running,state=exited"}, "ab"},
		{[]string{"state=exited-garbage"}, "c"},
		{[]string{"state=exited garbage"}, "c"},
		{[]string{"state=EXITED_GARBAGE"}, "c"},
		{[]string{"label=tier"}, "ab"},
		{[]string{"label=tier=web"}, "a"},
		// Labels must all match.
		{[]string{"label=tier=web", "label=tier=db"}, ""},
		{[]string{"label=tier=web,label=env=prod"}, "a"},
		{[]string{"label=tier,label=env"}, "a"},
		{[]string{"label=tier=db", "state=running"}, ""},
		{[]string{"name=web-1"}, "a"},
		{[]string{"name=*-1"}, "ab"},
		{[]string{"name="}, "c"},
		{[]string{"image=example.com/busybox"}, "ac"},
		{[]string{"image=example.com/busybox:1.0"}, "ac"},
		{[]string{"image=example.com/busybox:2.0"}, ""},
		{[]string{"image=sha512-1234"}, "b"},
		{[]string{"before=2024-05-01T12:00:30Z"}, "a"},
		{[]string{"since=2024-05-01T12:00:30Z"}, "bc"},
		{[]string{"since=2024-05-01T12:00:30Z", "before=2024-05-01T12:01:30Z"}, "b"},
		{[]string{"state=exited", "", "label=tier,"}, "b"},
	} {
		f, err := ParsePodFilter(c, tc.filters)
		if err != nil {
			t.Errorf("ParsePodFilter(%q): %v", tc.filters, err)
			continue
		}
		got := ""
		for _, id := range []string{"a", "b", "c"} {
			if f.Match(pods[id]) {
				got += id
			}
		}
		if got != tc.want {
			t.Errorf("filter %q selects %q, want %q", tc.filters, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestParsePodFilterRefuses(t *testing.T) {
	c := Config{DataDir: t.TempDir()}
	for _, spec := range []string{"state", "state=sleeping", "color=red", "label=", "label=a b", "name=[", "image=", "before=nosuchpod", "since=5b1f2c3d"} {
		_, err := ParsePodFilter(c, []string{spec})
		if err == nil {
			t.Errorf("ParsePodFilter(%q) succeeded", spec)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParsePodFilter(%q): the error has several lines: %q", spec, err)
		}
	}
}

func TestCountPods(t *testing.T) {
	pc := CountPods([]*PodInfo{{State: PodState{Lifecycle: lifecycle.Running}}, {State: PodState{Lifecycle: lifecycle.Exited}}, {State: PodState{Lifecycle: lifecycle.Running}}, {State: PodState{Lifecycle: lifecycle.Running, Condition: Paused}}})
	if pc.Total != 4 || pc.States["running"] != 2 || pc.States["exited"] != 1 || pc.States["prepared"] != 0 || pc.States["paused"] != 1 {
		t.Fatalf("CountPods: %+v", pc)
	}
	if _, ok := pc.States["prepared"]; !ok {
		t.Error("a state without pods is missing from the counts")
	}
	if got := strings.Join(pc.Ordered(), ","); got != "running,exited,paused" {
		t.Errorf("Ordered() = %s", got)
	}
}
