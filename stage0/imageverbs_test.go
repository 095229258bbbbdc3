package stage0

import (
	"reflect"
	"testing"
	"time"

	"podctl/lifecycle"
	"podctl/store"
)

func TestImageFilter(t *testing.T) {
	c := Config{DataDir: t.TempDir()}
	now := time.Now()
	old := store.Image{ID: "sha512-01", Name: "example.com/old", Labels: map[string]string{"version": "1.0", "arch": "amd64"}, ImportTime: now.Add(-48 * time.Hour)}
	fresh := store.Image{ID: "sha512-02", Name: "example.com/new", Labels: map[string]string{"tier": "web"}, ImportTime: now, Tags: []string{"other.org/alias:2"}}
	for _, tc := range []struct {
		specs []string
		want  []string
	}{
		{nil, []string{"old", "new"}},
		{[]string{"name=example.com/*"}, []string{"old", "new"}},
		{[]string{"name=example.com/old:1.0"}, []string{"old"}},
		{[]string{"name=other.org/*"}, []string{"new"}},
		{[]string{"name=example.com/old,name=example.com/new"}, []string{"old", "new"}},
		{[]string{"label=arch"}, []string{"old"}},
		{[]string{"label=arch=arm64"}, nil},
		{[]string{"label=arch", "label=version=1.0"}, []string{"old"}},
		{[]string{"since=24h"}, []string{"new"}},
		{[]string{"before=2h"}, []string{"old"}},
		{[]string{"before=2h", "name=example.com/new"}, nil},
	} {
		f, err := ParseImageFilter(c, tc.specs)
		if err != nil {
			t.Fatalf("%v: %v", tc.specs, err)
		}
		var got []string
		for _, img := range []store.Image{old, fresh} {
			if f.Match(&img) {
				got = append(got, img.Name[len("example.com/"):])
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v selects %v, want %v", tc.specs, got, tc.want)
		}
	}
	for _, bad := range []string{"bogus=1", "name", "label=", "name=[", "since=example.com/none"} {
		if _, err := ParseImageFilter(c, []string{bad}); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

func TestActivePodsByImage(t *testing.T) {
	pod := func(uuid string, s lifecycle.State, ids ...string) *PodInfo {
		pi := &PodInfo{UUID: uuid, State: PodState{Lifecycle: s}}
		for _, id := range ids {
			pi.Apps = append(pi.Apps, AppInfo{ImageID: id})
		}
		return pi
	}
	got := activePodsByImage([]*PodInfo{
		pod("b", lifecycle.Running, "sha512-1", "sha512-1"),
		pod("a", lifecycle.Prepared, "sha512-1", "sha512-2"),
		pod("c", lifecycle.Exited, "sha512-3"),
		pod("d", lifecycle.ExitedGarbage, "sha512-2"),
		pod("e", lifecycle.Preparing),
	})
	want := map[string][]string{"sha512-1": {"a (prepared)", "b (running)"}, "sha512-2": {"a (prepared)"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
