package network

import (
	"testing"

	"podctl/internal/checktest"
)

// FuzzNameChecks: validName and validArgKey say of any string what the
// regular expressions they replace say.
func FuzzNameChecks(f *testing.F) {
	checktest.Fuzz(f, []string{"", "a", "0", "_", "-", ".", "a-b.c_d", "-a", "a-", "_a", "0a", "a0", "é", "a b", "A_B", "podctl-1"},
		checktest.Check{Name: "validName", Func: validName, Expr: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`},
		checktest.Check{Name: "validArgKey", Func: validArgKey, Expr: `^[A-Za-z_][A-Za-z0-9_]*$`})
}
