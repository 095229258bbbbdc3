package kit

import (
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/appexec"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRlimit parses --rlimit values. What parses names a limit podctl
// knows, keeps soft at most hard, and its canonical form parses again to
// the same limit.
// FuzzReadSettings reads an app's settings from its annotations in the pod
// manifest, as stage1 does before it starts the app. What is accepted is
// within what the kernel takes, and written back as annotations reads
// again the same.
func FuzzReadSettings(f *testing.F) {
	f.Add("nofile=1024:4096", "100", true, true)
	f.Add("nofile=1024:4096,core=unlimited,nofile=10", "-1000", true, true)
	f.Add("", "1001", true, true)
	f.Add("as=1:2", "", true, false)
	f.Fuzz(func(t *testing.T, rlimits, oom string, hasRlimits, hasOOM bool) {
		annotations := func(rl, oom string, hasRl, hasOOM bool) func(string) (string, bool) {
			return func(k string) (string, bool) {
				switch k {
				case lifecycle.AnnotationRlimits:
					return rl, hasRl
				case lifecycle.AnnotationOOMScoreAdj:
					return oom, hasOOM
				}
				return "", false
			}
		}
		s := AppSpec{Spec: appexec.Spec{Name: "a"}}
		if err := readSettings(&s, annotations(rlimits, oom, hasRlimits, hasOOM)); err != nil {
			if !strings.HasPrefix(err.Error(), "app a: ") {
				t.Fatalf("error %q does not name the app", err)
			}
			return
		}
		if s.OOMScoreAdj != nil && stage1.CheckOOMScoreAdj(*s.OOMScoreAdj) != nil {
			t.Fatalf("oom_score_adj %d accepted", *s.OOMScoreAdj)
		}
		seen := map[int]bool{}
		for _, r := range s.Rlimits {
			if seen[r.Resource] {
				t.Fatalf("limit %s given twice in %+v", r.Name, s.Rlimits)
			}
			seen[r.Resource] = true
			if r.Soft > r.Hard {
				t.Fatalf("limit %+v has soft above hard", r)
			}
		}
		var oomBack string
		if s.OOMScoreAdj != nil {
			oomBack = oom
		}
		again := AppSpec{Spec: appexec.Spec{Name: "a"}}
		if err := readSettings(&again, annotations(stage1.FormatRlimits(s.Rlimits), oomBack, len(s.Rlimits) > 0, s.OOMScoreAdj != nil)); err != nil {
			t.Fatalf("settings written back do not read: %v", err)
		}
		if !reflect.DeepEqual(again.Rlimits, s.Rlimits) || !reflect.DeepEqual(again.OOMScoreAdj, s.OOMScoreAdj) {
			t.Fatalf("settings %+v, %v read back as %+v, %v", s.Rlimits, s.OOMScoreAdj, again.Rlimits, again.OOMScoreAdj)
		}
	})
}
