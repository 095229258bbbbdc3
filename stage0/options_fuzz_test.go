package stage0

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"podctl/stage1"
)

// fuzzParser checks a parser on any input: it does not panic, a refusal is
// a usage error of one line (for input of one line) or a plain error, and
// what it takes, written back with format, parses again to the same value.
func fuzzParser[T comparable](t *testing.T, parse func(string) (T, error), format func(T) string, s string) {
	v, err := parse(s)
	if err != nil {
		if strings.ContainsAny(err.Error(), "\r\n") && !strings.ContainsAny(s, "\r\n") {
			t.Fatalf("%q: error %q is not one line", s, err)
		}
		return
	}
	again, err := parse(format(v))
	if err != nil || again != v {
		t.Fatalf("%q parsed as %+v, written back as %q, parsed as %+v, %v", s, v, format(v), again, err)
	}
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
}

// FuzzParseLimits fuzzes --memory and --cpu, which share appc's reader of
// quantities: what they take is a positive amount, at least MinMemory of
// memory.
func FuzzParseLimits(f *testing.F) {
	addSeeds(f, "64M", "1G", "6Mi", "5Mi", "lots", "500m", "2", "0.25", "1e3", "-1", "1e-999999999", "9223372036854775807", "1Ei")
	f.Fuzz(func(t *testing.T, s string) {
		fuzzParser(t, ParseMemory, func(n int64) string { return strconv.FormatInt(n, 10) }, s)
		fuzzParser(t, ParseCPU, func(n int64) string { return strconv.FormatInt(n, 10) + "m" }, s)
		if n, err := ParseMemory(s); err == nil && n < MinMemory {
			t.Fatalf("--memory %q taken as %d bytes", s, n)
		}
		if n, err := ParseCPU(s); err == nil && n <= 0 {
			t.Fatalf("--cpu %q taken as %d", s, n)
		}
	})
}

// FuzzParseKeyValues fuzzes the KEY=VALUE and NAME=FILE flags: --label,
// --annotation, --environment and the secrets.
func FuzzParseKeyValues(f *testing.F) {
	addSeeds(f, "tier=web", "example.com/team=core", "empty=", "=x", "a=b=c", "tier=a,b", "note=\x00", "PODCTL_POD_UUID=x", "TOKEN=/run/token", "TOKEN=rel")
	str := func(kv KeyValue) string { return kv.String() }
	f.Fuzz(func(t *testing.T, s string) {
		fuzzParser(t, ParseLabel, str, s)
		fuzzParser(t, ParseAnnotation, str, s)
		fuzzParser(t, ParseEnv, EnvVar.String, s)
		fuzzParser(t, func(s string) (Secret, error) { return ParseSecret("--set-env-secret", s) }, Secret.String, s)
		if sec, err := ParseSecret("--set-env-secret", s); err == nil && !strings.HasPrefix(sec.File, "/") {
			t.Fatalf("secret %q: file %q is not absolute", s, sec.File)
		}
	})
}

// FuzzParseMountVolume fuzzes --mount and --volume: a mount taken has a
// clean absolute target outside stage1's folders.
func FuzzParseMountVolume(f *testing.F) {
	addSeeds(f, "volume=a,target=/data", "target=/data/,volume=a", "volume=a,target=/proc", "volume=a,target=/dev/../dev/shm", "volume=a,x=y",
		"data,kind=host,source=/tmp,readOnly=true", "data,kind=empty,mode=0755,uid=1,gid=2", "data,kind=empty,mode=999", "data,kind=host,source=tmp", ",")
	f.Fuzz(func(t *testing.T, s string) {
		fuzzParser(t, ParseMount, Mount.String, s)
		if m, err := ParseMount(s); err == nil && (!strings.HasPrefix(m.Target, "/") || m.Target != filepath.Clean(m.Target)) {
			t.Fatalf("mount %q: target %q", s, m.Target)
		}
		v, err := ParseVolume(s)
		if err != nil {
			if !errors.Is(err, ErrUsage) || strings.ContainsAny(err.Error(), "\r\n") && !strings.ContainsAny(s, "\r\n") {
				t.Fatalf("volume %q: error %q", s, err)
			}
			return
		}
		if v.Kind == "host" && !strings.HasPrefix(v.Source, "/") {
			t.Fatalf("volume %q: source %q", s, v.Source)
		}
	})
}

// FuzzParseNumbers fuzzes --rlimit, --oom-score-adj and --pids-limit.
func FuzzParseNumbers(f *testing.F) {
	addSeeds(f, "nofile=1024:4096", "RLIMIT_CORE=unlimited", "core=2:1", "nothing=1", "0", "-1000", "1001", "1", "x", "99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		fuzzParser(t, ParseRlimit, stage1.Rlimit.String, s)
		itoa := strconv.Itoa
		fuzzParser(t, ParseOOMScoreAdj, itoa, s)
		fuzzParser(t, ParsePidsLimit, itoa, s)
		if n, err := ParsePidsLimit(s); err == nil && n < 1 {
			t.Fatalf("--pids-limit %q taken as %d", s, n)
		}
	})
}

// FuzzParseConfinement fuzzes --caps-retain, --caps-remove and --seccomp:
// a refusal is one line, and what they take, written back, reads again
// the same.
func FuzzParseConfinement(f *testing.F) {
	addSeeds(f, "CAP_NET_BIND_SERVICE", "net_admin,Cap_Chown", "cap_bogus", "", ",", "chown,chown",
		"unconfined", "mode=retain,mkdir", "mode=remove,errno=ENOTSUP,mkdir,socket", "mode=retain,errno=EWHAT,read",
		"mode=keep,read", "mode=remove", "mode=remove,errno=EPERM,errno=EACCES,read", "mkdir", "mode=retain,read,errno=EPERM")
	f.Fuzz(func(t *testing.T, s string) {
		oneLine := func(err error) {
			if strings.ContainsAny(err.Error(), "\r\n") && !strings.ContainsAny(s, "\r\n") {
				t.Fatalf("%q: error %q is not one line", s, err)
			}
		}
		if caps, err := ParseCapabilities(s); err != nil {
			oneLine(err)
		} else {
			back := strings.Join(stage1.CapabilityNames(caps), ",")
			again, err := ParseCapabilities(back)
			if err != nil || !slices.Equal(again, caps) {
				t.Fatalf("%q parsed as %v, written back as %q, parsed as %v, %v", s, caps, back, again, err)
			}
		}
		if c, err := ParseSeccomp(s); err != nil {
			oneLine(err)
		} else {
			again, err := ParseSeccomp(c.String())
			if err != nil || !reflect.DeepEqual(again, c) {
				t.Fatalf("%q parsed as %+v, written back as %q, parsed as %+v, %v", s, c, c.String(), again, err)
			}
		}
	})
}
