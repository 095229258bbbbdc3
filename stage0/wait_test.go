package stage0

import (
	"testing"
	"time"
)

func TestPodExitCode(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	app := func(name string, code int, finished int) AppInfo {
		f := t0.Add(time.Duration(finished) * time.Second)
		return AppInfo{Name: name, ExitCode: &code, FinishedAt: &f}
	}
	for _, c := range []struct {
		apps []AppInfo
		want int
		ok   bool
	}{
		{[]AppInfo{app("a", 0, 1), app("b", 0, 2)}, 0, true},
		// The first to fail wins, whatever the order of the apps.
		{[]AppInfo{app("a", 143, 3), app("b", 7, 2), app("c", 0, 1)}, 7, true},
		{[]AppInfo{app("a", 3, 1), app("b", 143, 2)}, 3, true},
		// A failure is known even when another app's end is not.
		{[]AppInfo{{Name: "a"}, app("b", 5, 2)}, 5, true},
		{[]AppInfo{{Name: "a"}, app("b", 0, 2)}, 0, false},
		{nil, 0, false},
	} {
		got, err := PodExitCode(&PodInfo{UUID: "u", Apps: c.apps})
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("apps %+v: got %d, %v; want %d (ok %t)", c.apps, got, err, c.want, c.ok)
		}
	}
}
