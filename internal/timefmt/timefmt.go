// Package timefmt is how podctl writes a time as text. There are two forms,
// and no other:
//
//	form      where                                          example
//	Text      key=value lines (status), messages (gc),        2026-12-06T15:31:53.438Z
//	          events text, list --full, stats history
//	Relative  the time columns of tables (list, image list)   2 minutes ago
//
// Text is RFC 3339 to the millisecond, always three digits, in the local
// time zone with its offset ("Z" for UTC), so it is one word and parses with
// time.RFC3339 or time.RFC3339Nano. JSON output is neither: it is what Go's
// encoding/json makes of a time.Time, RFC 3339 to the nanosecond with a zone.
package timefmt

import (
	"fmt"
	"time"
)

// Layout is the Go layout of the Text form.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Text writes t in the Text form.
func Text(t time.Time) string {
	return t.Local().Format(Layout)
}

// TextOrDash writes t in the Text form, or "-" if t is nil.
func TextOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return Text(*t)
}

// Relative says how long before now t was, as a person would: "just now",
// "N seconds ago", "N minutes ago", "N hours ago" (below 48 hours) or
// "N days ago", with "1 second ago" and so on for one. A nil t is "-". A
// time after now (a clock set back) is "just now".
func Relative(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := now.Sub(*t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return plural(int(d/time.Second), "second") + " ago"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
