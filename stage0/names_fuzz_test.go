package stage0

import (
	"regexp"
	"testing"
)

// FuzzNameAndLabelChecks: validPodName and validLabelKey say of any
// string what the regular expressions they replace say.
func FuzzNameAndLabelChecks(f *testing.F) {
	pod := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	label := regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`)
	for _, s := range []string{"", "a", "-", "a-b", "a--b", "-a", "a-", "A", "a.b", "a/b", "a_", "_a", "0", "web-1", "example.com/app", "é", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validPodName(s), pod.MatchString(s); got != want {
			t.Errorf("validPodName(%q) = %v, want %v", s, got, want)
		}
		if got, want := validLabelKey(s), label.MatchString(s); got != want {
			t.Errorf("validLabelKey(%q) = %v, want %v", s, got, want)
		}
	})
}
