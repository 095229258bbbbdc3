package stage0

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventsFilter(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	f, err := EventsFilter(EventsOptions{
		Since:   "10m",
		Until:   "2026-01-02T14:55:00.5Z",
		Filters: []string{"type=exited,type=started", "pod=ABC,name=web"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Since.Equal(now.Add(-10*time.Minute)) || !f.Until.Equal(time.Date(2026, 1, 2, 14, 55, 0, 5e8, time.UTC)) {
		t.Errorf("since %s until %s", f.Since, f.Until)
	}
	if strings.Join(f.Types, ",") != "exited,started" || strings.Join(f.Pods, ",") != "abc" || strings.Join(f.Names, ",") != "web" {
		t.Errorf("filter %+v", f)
	}
	for _, bad := range []EventsOptions{
		{Since: "yesterday"},
		{Until: "-1h"},
		{Since: "1m", Until: "1h"},
		{Filters: []string{"type=bogus"}},
		{Filters: []string{"colour=red"}},
		{Filters: []string{"type="}},
		{Filters: []string{"type=exited,"}},
	} {
		_, err := EventsFilter(bad, now)
		if err == nil || !errors.Is(err, ErrUsage) || strings.Contains(err.Error(), "\n") {
			t.Errorf("options %+v: got %v, want one line of usage error", bad, err)
		}
	}
}
