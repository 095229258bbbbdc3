package stage0

import (
	"strings"
	"testing"
)

func TestLastPodctlLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    "",
		"podctl: a\nprogress\npodctl: b\n":    "b",
		"podctl: a\npodctl: \n":               "a",
		"podctl: only, no newline":            "only, no newline",
		"noise\nPODCTL: no\n  podctl: indent": "",
		"podctl: a\r\n":                       "a",
	} {
		if got := lastPodctlLine([]byte(in)); got != want {
			t.Errorf("lastPodctlLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadDetachedUUID(t *testing.T) {
	id := "0f8fad5b-d9cb-469f-a165-70867728950e"
	if got, err := readDetachedUUID(strings.NewReader(id + "\n")); err != nil || got != id {
		t.Fatalf("readDetachedUUID: %q, %v", got, err)
	}
	for _, bad := range []string{"", id, "not-a-uuid\n", strings.Repeat("a", 500) + "\n"} {
		if got, err := readDetachedUUID(strings.NewReader(bad)); err == nil {
			t.Errorf("readDetachedUUID(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzDetachedStatus feeds the caller's parsers of what its detached
// podctl sends: the status pipe and the error file.
func FuzzDetachedStatus(f *testing.F) {
	f.Add([]byte("0f8fad5b-d9cb-469f-a165-70867728950e\n"))
	f.Add([]byte("podctl: one\nx\npodctl: two"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, err := readDetachedUUID(strings.NewReader(string(b))); err == nil && len(id) != 36 {
			t.Fatalf("readDetachedUUID accepted %q", id)
		}
		line := lastPodctlLine(b)
		if strings.Contains(line, "\n") || (line != "" && !strings.Contains(string(b), "podctl: ")) {
			t.Fatalf("lastPodctlLine(%q) = %q", b, line)
		}
	})
}
