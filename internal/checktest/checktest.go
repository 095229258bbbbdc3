// Package checktest holds, for tests, the fuzz target of hand-written
// checks that replaced regular expressions: each must say of any string
// what the expression it replaced says.
package checktest

import (
	"regexp"
	"testing"
)

// Check is a hand-written check and the expression it replaced.
type Check struct {
	Name string
	Func func(string) bool
	Expr string
}

// Fuzz fuzzes each of checks against its expression, from seeds.
func Fuzz(f *testing.F, seeds []string, checks ...Check) {
	res := make([]*regexp.Regexp, len(checks))
	for i, c := range checks {
		res[i] = regexp.MustCompile(c.Expr)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, c := range checks {
			if got, want := c.Func(s), res[i].MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, want %v", c.Name, s, got, want)
			}
		}
	})
}
