package stage1

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseRlimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Rlimit
	}{
		{"nofile=1000:2000", Rlimit{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 1000, Hard: 2000}},
		{"nofile=1000", Rlimit{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 1000, Hard: 1000}},
		{"RLIMIT_NOFILE=0:unlimited", Rlimit{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 0, Hard: RlimInfinity}},
		{"Core=unlimited", Rlimit{Name: "core", Resource: unix.RLIMIT_CORE, Soft: RlimInfinity, Hard: RlimInfinity}},
		{"rlimit_stack=8388608:UNLIMITED", Rlimit{Name: "stack", Resource: unix.RLIMIT_STACK, Soft: 8388608, Hard: RlimInfinity}},
		{"as=unlimited", Rlimit{Name: "as", Resource: unix.RLIMIT_AS, Soft: RlimInfinity, Hard: RlimInfinity}},
		{"nproc=10:20", Rlimit{Name: "nproc", Resource: unix.RLIMIT_NPROC, Soft: 10, Hard: 20}},
		{"memlock=65536", Rlimit{Name: "memlock", Resource: unix.RLIMIT_MEMLOCK, Soft: 65536, Hard: 65536}},
		{"fsize=1", Rlimit{Name: "fsize", Resource: unix.RLIMIT_FSIZE, Soft: 1, Hard: 1}},
		{"cpu=5:10", Rlimit{Name: "cpu", Resource: unix.RLIMIT_CPU, Soft: 5, Hard: 10}},
		{"data=unlimited", Rlimit{Name: "data", Resource: unix.RLIMIT_DATA, Soft: RlimInfinity, Hard: RlimInfinity}},
		{"sigpending=100", Rlimit{Name: "sigpending", Resource: unix.RLIMIT_SIGPENDING, Soft: 100, Hard: 100}},
		{"msgqueue=819200", Rlimit{Name: "msgqueue", Resource: unix.RLIMIT_MSGQUEUE, Soft: 819200, Hard: 819200}},
		{"nice=0:20", Rlimit{Name: "nice", Resource: unix.RLIMIT_NICE, Soft: 0, Hard: 20}},
		{"rtprio=0", Rlimit{Name: "rtprio", Resource: unix.RLIMIT_RTPRIO, Soft: 0, Hard: 0}},
		{"locks=unlimited", Rlimit{Name: "locks", Resource: unix.RLIMIT_LOCKS, Soft: RlimInfinity, Hard: RlimInfinity}},
	} {
		got, err := ParseRlimit(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRlimit(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		// The canonical form reads back the same.
		if again, err := ParseRlimit(got.String()); err != nil || again != got {
			t.Errorf("ParseRlimit(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
	if got := len(RlimitNames()); got != 14 {
		t.Errorf("%d limit names, want 14", got)
	}
}

func TestParseRlimitRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"bogus=1":               `unknown limit "bogus": choose one of as, core, cpu,`,
		"rlimit_rttime=1":       "unknown limit",
		"nofile":                "write NAME=SOFT[:HARD]",
		"=1":                    "unknown limit",
		"nofile=2000:1000":      "soft limit 2000 is above hard limit 1000",
		"nofile=unlimited:1000": "soft limit unlimited is above hard limit 1000",
		"nofile=":               `limit "" is not a number or unlimited`,
		"nofile=-1":             `limit "-1" is not a number`,
		"nofile=1k":             `limit "1k" is not a number`,
		"nofile=1:2:3":          `limit "2:3" is not a number`,
		"nofile=1:":             `limit "" is not a number`,
	} {
		_, err := ParseRlimit(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRlimit(%q): %v, want an error with %q", in, err, want)
		}
	}
}

func TestParseRlimitsLaterWins(t *testing.T) {
	rs, err := ParseRlimits([]string{"core=0", "nofile=10:20", "RLIMIT_CORE=unlimited"})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatRlimits(rs); got != "core=unlimited:unlimited,nofile=10:20" {
		t.Errorf("FormatRlimits = %q", got)
	}
	if _, err := ParseRlimits([]string{"nofile=1", "bogus=1"}); err == nil || !strings.HasPrefix(err.Error(), `--rlimit "bogus=1": unknown limit`) {
		t.Errorf("ParseRlimits with a bad one: %v", err)
	}
	if rs, err := ParseRlimits(nil); err != nil || rs != nil {
		t.Errorf("ParseRlimits(nil) = %v, %v", rs, err)
	}
}

func TestCheckOOMScoreAdj(t *testing.T) {
	for _, n := range []int{-1000, 0, 1000} {
		if err := CheckOOMScoreAdj(n); err != nil {
			t.Errorf("%d: %v", n, err)
		}
	}
	for _, n := range []int{-1001, 1001, 5000} {
		if err := CheckOOMScoreAdj(n); err == nil {
			t.Errorf("%d accepted", n)
		}
	}
}
