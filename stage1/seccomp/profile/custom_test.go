package profile

import (
	"testing"

	"podctl/stage1/seccomp/custom"
)

// Every mode with a filter assembles, duplicates included.
func TestCustomProgram(t *testing.T) {
	for _, s := range []string{"mode=retain,read,write,read", "mode=remove,errno=ENOTSUP,mkdir,clone,socket,mkdir"} {
		c, err := custom.ParseCustom(s)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := CustomProgram(c, true)
		if err != nil || len(prog) == 0 || len(prog) > 4096 {
			t.Errorf("CustomProgram(%s): %d instructions, %v", s, len(prog), err)
		}
	}
	if _, err := CustomProgram(&custom.Custom{Mode: custom.ModeUnconfined}, true); err == nil {
		t.Error("an unconfined filter assembled")
	}
}
