package stage1

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Restart policies (RestartPolicy.Mode).
const (
	RestartNo        = "no"
	RestartOnFailure = "on-failure"
	RestartAlways    = "always"
)

// DefaultRestartBackoff is the wait before an app's first restart; it
// doubles with each restart up to MaxRestartBackoff, as a kubelet's does.
const (
	DefaultRestartBackoff = 10 * time.Second
	MaxRestartBackoff     = 5 * time.Minute
)

// RestartPolicy says when stage1 starts an app again after it ends.
type RestartPolicy struct {
	// Mode is RestartNo (or empty), RestartOnFailure or RestartAlways.
	Mode string `json:"mode,omitempty"`
	// Max is, for RestartOnFailure, the most restarts; 0 is no limit.
	Max int `json:"max,omitempty"`
	// Backoff is the wait before the first restart (DefaultRestartBackoff
	// if zero).
	Backoff time.Duration `json:"backoff,omitempty"`
}

// ParseRestartPolicy reads --restart: no, on-failure[:MAX] or always.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	mode, max, hasMax := strings.Cut(s, ":")
	p := RestartPolicy{Mode: mode}
	switch mode {
	case RestartNo, RestartAlways:
		if hasMax {
			return p, fmt.Errorf("--restart=%s takes no count: only on-failure:MAX does", s)
		}
	case RestartOnFailure:
		if hasMax {
			n, err := strconv.Atoi(max)
			if err != nil || n < 0 {
				return p, fmt.Errorf("--restart=%s: the most restarts must be a number, 0 or more", s)
			}
			p.Max = n
		}
	default:
		return p, fmt.Errorf("--restart=%s: choose no, on-failure[:MAX] or always", s)
	}
	return p, nil
}

// Never reports whether no app is ever started again.
func (p RestartPolicy) Never() bool { return p.Mode == "" || p.Mode == RestartNo }

// Restarts reports whether an app that ended with code, after restarts
// restarts, is started again.
func (p RestartPolicy) Restarts(code, restarts int) bool {
	switch p.Mode {
	case RestartAlways:
		return true
	case RestartOnFailure:
		return code != 0 && (p.Max == 0 || restarts < p.Max)
	}
	return false
}

// Delay is the wait before restart number n+1 (n restarts done).
func (p RestartPolicy) Delay(n int) time.Duration {
	d := p.Backoff
	if d <= 0 {
		d = DefaultRestartBackoff
	}
	for i := 0; i < n && d < MaxRestartBackoff; i++ {
		d *= 2
	}
	if d > MaxRestartBackoff {
		d = MaxRestartBackoff
	}
	return d
}
