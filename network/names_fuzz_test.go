package network

import (
	"regexp"
	"testing"
)

// FuzzNameChecks: validName and validArgKey say of any string what the
// regular expressions they replace say.
func FuzzNameChecks(f *testing.F) {
	name := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)
	key := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, s := range []string{"", "a", "0", "_", "-", ".", "a-b.c_d", "-a", "a-", "_a", "0a", "a0", "é", "a b", "A_B", "podctl-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), name.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, want %v", s, got, want)
		}
		if got, want := validArgKey(s), key.MatchString(s); got != want {
			t.Errorf("validArgKey(%q) = %v, want %v", s, got, want)
		}
	})
}
