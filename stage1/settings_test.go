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
		{"nofile=1000:2000", Rlimit{"nofile", unix.RLIMIT_NOFILE, 1000, 2000}},
		{"nofile=1000", Rlimit{"nofile", unix.RLIMIT_NOFILE, 1000, 1000}},
		{"RLIMIT_NOFILE=0:unlimited", Rlimit{"nofile", unix.RLIMIT_NOFILE, 0, RlimInfinity}},
		{"Core=unlimited", Rlimit{"core", unix.RLIMIT_CORE, RlimInfinity, RlimInfinity}},
		{"rlimit_stack=8388608:UNLIMITED", Rlimit{"stack", unix.RLIMIT_STACK, 8388608, RlimInfinity}},
		{"as=unlimited", Rlimit{"as", unix.RLIMIT_AS, RlimInfinity, RlimInfinity}},
		{"nproc=10:20", Rlimit{"nproc", unix.RLIMIT_NPROC, 10, 20}},
		{"memlock=65536", Rlimit{"memlock", unix.RLIMIT_MEMLOCK, 65536, 65536}},
		{"fsize=1", Rlimit{"fsize", unix.RLIMIT_FSIZE, 1, 1}},
		{"cpu=5:10", Rlimit{"cpu", unix.RLIMIT_CPU, 5, 10}},
		{"data=unlimited", Rlimit{"data", unix.RLIMIT_DATA, RlimInfinity, RlimInfinity}},
		{"sigpending=100", Rlimit{"sigpending", unix.RLIMIT_SIGPENDING, 100, 100}},
		{"msgqueue=819200", Rlimit{"msgqueue", unix.RLIMIT_MSGQUEUE, 819200, 819200}},
		{"nice=0:20", Rlimit{"nice", unix.RLIMIT_NICE, 0, 20}},
		{"rtprio=0", Rlimit{"rtprio", unix.RLIMIT_RTPRIO, 0, 0}},
		{"locks=unlimited", Rlimit{"locks", unix.RLIMIT_LOCKS, RlimInfinity, RlimInfinity}},
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
