package stage0

import (
	"testing"

	"podctl/internal/checktest"
)

// FuzzNameAndLabelChecks: validPodName and validLabelKey say of any
// string what the regular expressions they replace say.
func FuzzNameAndLabelChecks(f *testing.F) {
	checktest.Fuzz(f, []string{"", "a", "-", "a-b", "a--b", "-a", "a-", "A", "a.b", "a/b", "a_", "_a", "0", "web-1", "example.com/app", "é", "a b"},
		checktest.Check{Name: "validPodName", Func: validPodName, Expr: `^[a-z0-9]+(-[a-z0-9]+)*$`},
		checktest.Check{Name: "validLabelKey", Func: validLabelKey, Expr: `^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`})
}
