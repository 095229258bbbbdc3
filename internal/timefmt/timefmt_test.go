package timefmt

import (
	"testing"
	"time"
)

func TestTextIsRFC3339WithZone(t *testing.T) {
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("X", 2*3600), time.FixedZone("Y", -(5*3600 + 1800))} {
		// Text writes local time: try it in several zones.
		saved := time.Local
		time.Local = loc
		in := time.Date(2026, 12, 6, 15, 31, 53, 438_123_456, time.UTC)
		s := Text(in)
		time.Local = saved
		got, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if !got.Equal(in.Truncate(time.Millisecond)) {
			t.Errorf("%s reads back as %v, want %v", s, got, in.Truncate(time.Millisecond))
		}
		if len(s) != len("2026-12-06T15:31:53.438Z") && len(s) != len("2026-12-06T15:31:53.438+02:00") {
			t.Errorf("%s: not one fixed width", s)
		}
	}
	saved := time.Local
	time.Local = time.UTC
	defer func() { time.Local = saved }()
	if got := Text(time.Date(2026, 12, 6, 15, 31, 53, 0, time.UTC)); got != "2026-12-06T15:31:53.000Z" {
		t.Errorf("whole second: %s", got)
	}
	if got := TextOrDash(nil); got != "-" {
		t.Errorf("nil: %s", got)
	}
}

func TestRelative(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Hour, "just now"},
		{500 * time.Millisecond, "just now"},
		{time.Second, "1 second ago"},
		{59 * time.Second, "59 seconds ago"},
		{time.Minute, "1 minute ago"},
		{47 * time.Hour, "47 hours ago"},
		{49 * time.Hour, "2 days ago"},
	} {
		at := now.Add(-c.d)
		if got := Relative(&at, now); got != c.want {
			t.Errorf("%s: got %q, want %q", c.d, got, c.want)
		}
	}
	if got := Relative(nil, now); got != "-" {
		t.Errorf("nil: %q", got)
	}
}
