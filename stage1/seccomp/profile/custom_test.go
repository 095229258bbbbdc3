package profile

import (
	"strings"
	"testing"
)

func TestParseCustom(t *testing.T) {
	for s, want := range map[string]string{
		"unconfined":                       "unconfined",
		"mode=retain,read,write":           "mode=retain,read,write",
		"mode=remove,errno=ENOTSUP,mkdir":  "mode=remove,errno=ENOTSUP,mkdir",
		"mode=retain,errno=ENOSYS,execve,": "",
		"mode=retain":                      "",
		"mode=remove,errno=EWHAT,mkdir":    "",
		"mode=remove,mkdir,errno=EPERM":    "",
		"read,write":                       "",
		"mode=remove,nosuchcall":           "",
		"unconfined,read":                  "",
	} {
		c, err := ParseCustom(s)
		switch {
		case want == "" && err == nil:
			t.Errorf("ParseCustom(%q) = %+v, want a refusal", s, c)
		case want != "" && err != nil:
			t.Errorf("ParseCustom(%q): %v", s, err)
		case want != "" && c.String() != want:
			t.Errorf("ParseCustom(%q) written back as %q, want %q", s, c.String(), want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("ParseCustom(%q): error of more than one line: %q", s, err)
		}
	}
}

// Every mode with a filter assembles, duplicates included.
func TestCustomProgram(t *testing.T) {
	for _, s := range []string{"mode=retain,read,write,read", "mode=remove,errno=ENOTSUP,mkdir,clone,socket,mkdir"} {
		c, err := ParseCustom(s)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := CustomProgram(c, true)
		if err != nil || len(prog) == 0 || len(prog) > 4096 {
			t.Errorf("CustomProgram(%s): %d instructions, %v", s, len(prog), err)
		}
	}
	if _, err := CustomProgram(&Custom{Mode: ModeUnconfined}, true); err == nil {
		t.Error("an unconfined filter assembled")
	}
}
