package stage1

import (
	"testing"
)

// FuzzParseRlimit parses --rlimit values. What parses names a limit podctl
// knows, keeps soft at most hard, and its canonical form parses again to
// the same limit.
func FuzzParseRlimit(f *testing.F) {
	for _, s := range []string{"nofile=1024:4096", "RLIMIT_NOFILE=0:unlimited", "core=unlimited", "nproc=10", "stack=8388608:infinity", "nofile=2000:1000", "bogus=1", "nofile"} {
		f.Add(s)
	}
	known := map[string]bool{}
	for _, n := range RlimitNames() {
		known[n] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRlimit(s)
		if err != nil {
			return
		}
		if !known[r.Name] || rlimitNames[r.Name] != r.Resource {
			t.Fatalf("%q parsed as %+v, which is no limit podctl knows", s, r)
		}
		if r.Soft > r.Hard {
			t.Fatalf("%q parsed with soft %d above hard %d", s, r.Soft, r.Hard)
		}
		again, err := ParseRlimit(r.String())
		if err != nil || again != r {
			t.Fatalf("%q parsed as %+v, written %q, parsed again as %+v, %v", s, r, r.String(), again, err)
		}
	})
}
