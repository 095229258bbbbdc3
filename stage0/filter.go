package stage0

import (
	"errors"
	"path"
	"path/filepath"
	"podctl/internal/match"
	"sort"
	"strings"
	"time"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
)

// PodFilter selects pods for list. Each key may be given several times:
// a pod matches a key if it matches any of the key's values, but for
// label, whose values must all match (as podman's filters do), and it
// matches the filter if it matches every key given. A nil filter matches
// every pod.
type PodFilter struct {
	states []string
	names  []string
	images []string
	// sources are absolute paths of pod files or their folders.
	sources []string
	common
}

type labelMatch struct {
	key, value string
	anyValue   bool
}

// common are the keys pod and image filters share: label=, before= and
// since=.
type common struct {
	labels        []labelMatch
	before, since []time.Time
}

// addLabel adds label=KEY[=VALUE].
func (c *common) addLabel(v string) {
	key, val, hasValue := strings.Cut(v, "=")
	c.labels = append(c.labels, labelMatch{key: key, value: val, anyValue: !hasValue})
}

// addTime adds before=t (k "before") or since=t.
func (c *common) addTime(k string, t time.Time) {
	if k == "before" {
		c.before = append(c.before, t)
	} else {
		c.since = append(c.since, t)
	}
}

// matches reports whether labels and a time (nil: none) pass the shared
// keys: every label given, and any before= and since= bound of each.
func (c *common) matches(labels map[string]string, at *time.Time) bool {
	return matchAll(c.labels, func(l labelMatch) bool {
		v, ok := labels[l.key]
		return ok && (l.anyValue || v == l.value)
	}) &&
		match.Any(c.before, func(t time.Time) bool { return at != nil && at.Before(t) }) &&
		match.Any(c.since, func(t time.Time) bool { return at != nil && at.After(t) })
}

// FilterKeys are the keys of list --filter.
var FilterKeys = []string{"state", "label", "name", "image", "before", "since", "source"}

// ParsePodFilter reads list --filter values. Each is one or more KEY=VALUE
// separated by commas:
//
//	state=STATE          the pod's state (running, exited, exited-garbage,
//	                     ...; "exited garbage" as older versions wrote it)
//	label=KEY[=VALUE]    the pod has label KEY (with that value); several
//	                     label filters must all match
//	name=PATTERN         the pod's name matches PATTERN (*, ?, [...]);
//	                     name= selects pods without a name
//	image=IMAGE          an app's image is IMAGE: a name, name:version, or
//	                     an image ID (sha512-...) or a prefix of one
//	before=POD|TIME      the pod was created before the pod (UUID, prefix
//	                     or name) or the time
//	since=POD|TIME       the pod was created after it
//	source=PATH          podctl apply made the pod from the pod file PATH,
//	                     or from a file in the folder PATH
//
// A TIME is RFC 3339 (2024-05-01T10:00:00Z), a local date and time
// (2024-05-01 10:00:00 or 2024-05-01T10:00:00), a local date (2024-05-01),
// or a duration meaning that long ago (90m). Pod names never read as times
// (CheckPodName), so a value that reads as a time is one.
func ParsePodFilter(c Config, specs []string) (*PodFilter, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	f := &PodFilter{}
	now := time.Now()
	if err := eachFilter(specs, FilterKeys, func(k, v string) error { return f.add(c, k, v, now) }); err != nil {
		return nil, err
	}
	return f, nil
}

// eachFilter gives each KEY=VALUE of --filter values (repeated, or
// comma-separated) to add; keys are the known keys, for the message.
func eachFilter(specs, keys []string, add func(k, v string) error) error {
	for _, spec := range specs {
		for _, kv := range strings.Split(spec, ",") {
			if strings.TrimSpace(kv) == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return errdefs.New(ErrUsage, "filter %q is not KEY=VALUE: the keys are %s", kv, strings.Join(keys, ", "))
			}
			if err := add(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *PodFilter) add(c Config, k, v string, now time.Time) error {
	switch k {
	case "state":
		// ParseState also takes the older spellings (exited garbage,
		// exited_garbage); the filter compares today's names.
		s := strings.ToLower(strings.TrimSpace(v))
		if st, err := lifecycle.ParseState(s); err == nil {
			s = st.String()
		} else if s != statePaused && s != stateTerminating {
			return errdefs.New(ErrUsage, "filter state=%s: no such state: use one of %s", v, strings.Join(listableStates(), ", "))
		}
		f.states = append(f.states, s)
	case "label":
		key, _, _ := strings.Cut(v, "=")
		if err := checkLabelKey("label", key); err != nil {
			return errdefs.New(ErrUsage, "filter label=%s: %v", v, err)
		}
		f.addLabel(v)
	case "name":
		if _, err := path.Match(v, ""); err != nil {
			return errdefs.New(ErrUsage, "filter name=%s: the pattern is malformed (use *, ? and [...])", v)
		}
		f.names = append(f.names, v)
	case "image":
		if v == "" {
			return errdefs.New(ErrUsage, "filter image= needs an image name, name:version or ID")
		}
		f.images = append(f.images, v)
	case "source":
		abs, err := filepath.Abs(v)
		if v == "" || err != nil {
			return errdefs.New(ErrUsage, "filter source= needs a pod file or a folder of them")
		}
		f.sources = append(f.sources, abs)
	case "before", "since":
		t, err := filterTime(c, k, v, now)
		if err != nil {
			return err
		}
		f.addTime(k, t)
	default:
		return errdefs.New(ErrUsage, "unknown filter %q: the keys are %s", k, strings.Join(FilterKeys, ", "))
	}
	return nil
}

// filterTime reads the value of before= or since=: a time, or a pod whose
// creation time it means.
func filterTime(c Config, k, v string, now time.Time) (time.Time, error) {
	if t, err := parseFilterTime(v, now); err == nil {
		return t, nil
	}
	p, err := c.OpenPod(v)
	if err != nil {
		if errors.Is(err, lifecycle.ErrNotFound) || errors.Is(err, lifecycle.ErrAmbiguous) {
			return time.Time{}, errdefs.New(ErrUsage, "filter %s=%s is neither a time (2024-05-01, 2024-05-01T10:00:00Z, 90m for 90 minutes ago) nor a pod: %v", k, v, err)
		}
		return time.Time{}, err
	}
	defer p.Close()
	t, err := p.CreationTime()
	if err != nil {
		return time.Time{}, errdefs.New(ErrUsage, "filter %s=%s: reading the creation time of pod %s: %v", k, v, p.UUID, err)
	}
	return t, nil
}

// parseFilterTime reads a time as the before and since filters take it.
func parseFilterTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateTime, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 && strings.IndexFunc(s, isLetter) >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("not a time")
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == 'µ' }

// Match reports whether the filter selects the pod.
func (f *PodFilter) Match(pi *PodInfo) bool {
	if f == nil {
		return true
	}
	return match.Any(f.states, func(s string) bool {
		// A paused or terminating pod is running, too.
		return pi.State.String() == s || s == lifecycle.Running.String() && pi.State.Lifecycle == lifecycle.Running
	}) &&
		f.common.matches(pi.Labels, pi.CreatedAt) &&
		match.Any(f.names, func(pattern string) bool {
			ok, _ := path.Match(pattern, pi.Name)
			return ok
		}) &&
		match.Any(f.sources, func(path string) bool { return sourceUnder(pi.Source, path) }) &&
		match.Any(f.images, func(img string) bool {
			for _, a := range pi.Apps {
				if imageMatches(img, &a) {
					return true
				}
			}
			return false
		})
}

// matchAll is true when every value matches.
func matchAll[T any](values []T, match func(T) bool) bool {
	for _, v := range values {
		if !match(v) {
			return false
		}
	}
	return true
}

// imageMatches reports whether an app's image is img: its name, its
// name:version, or its ID or a prefix of its ID.
func imageMatches(img string, a *AppInfo) bool {
	if strings.HasPrefix(img, "sha512-") {
		return strings.HasPrefix(a.ImageID, img)
	}
	if img == a.ImageName {
		return true
	}
	name, version, ok := strings.Cut(img, ":")
	return ok && name == a.ImageName && version == a.imageVersion
}

// ListMatching returns the pods List returns that the filter selects.
func ListMatching(c Config, f *PodFilter) ([]*PodInfo, error) {
	pods, err := List(c)
	if err != nil || f == nil {
		return pods, err
	}
	out := make([]*PodInfo, 0, len(pods))
	for _, pi := range pods {
		if f.Match(pi) {
			out = append(out, pi)
		}
	}
	return out, nil
}

// PodCounts are the numbers of pods in each state, as list --count
// shows them.
type PodCounts struct {
	Total int `json:"total"`
	// States has every state list can show, zero or not, and any other
	// state a pod was seen in.
	States map[string]int `json:"states"`
}

// CountPods counts pods by state.
func CountPods(pods []*PodInfo) *PodCounts {
	pc := &PodCounts{Total: len(pods), States: map[string]int{}}
	for _, s := range listableStates() {
		pc.States[s] = 0
	}
	for _, pi := range pods {
		pc.States[pi.State.String()]++
	}
	return pc
}

// Ordered lists the states with at least one pod, in lifecycle order
// (states podctl does not know last, by name).
func (pc *PodCounts) Ordered() []string {
	var out []string
	known := map[string]bool{}
	for _, s := range listableStates() {
		known[s] = true
		if pc.States[s] > 0 {
			out = append(out, s)
		}
	}
	var other []string
	for s, n := range pc.States {
		if !known[s] && n > 0 {
			other = append(other, s)
		}
	}
	sort.Strings(other)
	return append(out, other...)
}

// listableStates are the states List can find a pod in: all but embryo,
// whose folder it does not read.
func listableStates() []string {
	var out []string
	for _, s := range lifecycle.States() {
		if s != lifecycle.Embryo {
			out = append(out, s.String())
		}
	}
	return append(out, statePaused, stateTerminating)
}
