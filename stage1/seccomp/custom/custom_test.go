package custom

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
