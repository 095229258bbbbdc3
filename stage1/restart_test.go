package stage1

import (
	"testing"
	"time"
)

func TestRestartPolicy(t *testing.T) {
	for _, bad := range []string{"sometimes", "no:3", "always:1", "on-failure:x", "on-failure:-1", ""} {
		if _, err := ParseRestartPolicy(bad); err == nil {
			t.Errorf("--restart=%s accepted", bad)
		}
	}
	p, err := ParseRestartPolicy("on-failure:3")
	if err != nil || p.Mode != RestartOnFailure || p.Max != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, c := range []struct {
		code, restarts int
		want           bool
	}{{1, 0, true}, {1, 2, true}, {1, 3, false}, {0, 0, false}} {
		if got := p.Restarts(c.code, c.restarts); got != c.want {
			t.Errorf("on-failure:3 code %d after %d: %v", c.code, c.restarts, got)
		}
	}
	if a, _ := ParseRestartPolicy("always"); !a.Restarts(0, 100) {
		t.Error("always does not restart")
	}
	if n, _ := ParseRestartPolicy("no"); n.Restarts(1, 0) {
		t.Error("no restarts")
	}
	if u, _ := ParseRestartPolicy("on-failure"); !u.Restarts(2, 1000) {
		t.Error("on-failure without a count stops")
	}
	// 10 s doubling to 5 min.
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for n, w := range want {
		if d := p.Delay(n); d != w {
			t.Errorf("delay after %d restarts: %s, want %s", n, d, w)
		}
	}
	if d := (RestartPolicy{Mode: RestartAlways, Backoff: 100 * time.Millisecond}).Delay(2); d != 400*time.Millisecond {
		t.Errorf("base 100ms, third restart: %s", d)
	}
}

func TestRestartNever(t *testing.T) {
	for mode, want := range map[string]bool{"": true, RestartNo: true, RestartOnFailure: false, RestartAlways: false} {
		if got := (RestartPolicy{Mode: mode}).Never(); got != want {
			t.Errorf("mode %q: Never() = %v, want %v", mode, got, want)
		}
	}
}
