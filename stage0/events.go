package stage0

import (
	"context"
	"strings"
	"time"

	"podctl/events"
	"podctl/internal/errdefs"
)

// EventsOptions are the choices of podctl events, as the user wrote them.
type EventsOptions struct {
	// Since and Until bound the events' times: a duration before now
	// (10m, 1h30m) or an RFC 3339 time. Empty: no bound.
	Since, Until string
	// Filters are KEY=VALUE selections, several to an item separated by
	// commas: type=, pod= (a UUID or its prefix), name=. Values of one key
	// are alternatives; different keys must all match.
	Filters []string
	// Follow keeps passing new events on until the context ends (or
	// Until, when given, has passed).
	Follow bool
}

// EventsFilter turns the options into a filter, or says what is wrong
// with them. now is the time durations count back from.
func EventsFilter(opts EventsOptions, now time.Time) (events.Filter, error) {
	var f events.Filter
	var err error
	if f.Since, err = parseEventTime("--since", opts.Since, now); err != nil {
		return f, err
	}
	if f.Until, err = parseEventTime("--until", opts.Until, now); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, errdefs.New(ErrUsage, "--until %s is before --since %s: nothing could match", opts.Until, opts.Since)
	}
	for _, item := range opts.Filters {
		for _, kv := range strings.Split(item, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || v == "" {
				return f, errdefs.New(ErrUsage, "--filter %q is not KEY=VALUE: use type=, pod= or name=, such as --filter type=exited,name=web", kv)
			}
			switch k {
			case "type":
				if !events.IsType(v) {
					return f, errdefs.New(ErrUsage, "--filter type=%s: unknown event type, use one of %s", v, strings.Join(events.Types, ", "))
				}
				f.Types = append(f.Types, v)
			case "pod":
				f.Pods = append(f.Pods, strings.ToLower(v))
			case "name":
				f.Names = append(f.Names, v)
			default:
				return f, errdefs.New(ErrUsage, "--filter %s: unknown key %q, use type, pod or name", kv, k)
			}
		}
	}
	return f, nil
}

// parseEventTime reads a --since or --until value: a duration before now
// or an RFC 3339 time; "" is no bound.
func parseEventTime(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errdefs.New(ErrUsage, "%s %s: give how long ago as a positive duration, such as 10m", flag, s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, errdefs.New(ErrUsage, "%s %q is neither a duration before now (10m, 1h30m) nor an RFC 3339 time (2026-01-02T15:04:05Z)", flag, s)
}

// Events passes the events of the data directory's log that opts selects
// to fn, oldest first; with Follow, it goes on with each new event until
// ctx is done. Bad options are refused before anything is read.
func Events(ctx context.Context, c Config, opts EventsOptions, fn func(events.Event)) error {
	f, err := EventsFilter(opts, time.Now())
	if err != nil {
		return err
	}
	if opts.Follow {
		return events.Follow(ctx, c.DataDir, f, fn)
	}
	evs, err := events.Read(c.DataDir, f)
	if err != nil {
		return err
	}
	for _, e := range evs {
		fn(e)
	}
	return nil
}
