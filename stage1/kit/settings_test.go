package kit

import (
	"podctl/lifecycle"
	"podctl/stage1"
	"testing"
)

func TestReadSettings(t *testing.T) {
	ann := map[string]string{lifecycle.AnnotationRlimits: "nofile=10:20,core=0:0", lifecycle.AnnotationOOMScoreAdj: "-7"}
	get := func(k string) (string, bool) { v, ok := ann[k]; return v, ok }
	var s AppSpec
	if err := readSettings(&s, get); err != nil {
		t.Fatal(err)
	}
	if stage1.FormatRlimits(s.Rlimits) != "nofile=10:20,core=0:0" || s.OOMScoreAdj == nil || *s.OOMScoreAdj != -7 {
		t.Errorf("read %+v", s)
	}
	ann[lifecycle.AnnotationOOMScoreAdj] = "1001"
	if err := readSettings(&s, get); err == nil {
		t.Error("oom_score_adj 1001 accepted")
	}
}
