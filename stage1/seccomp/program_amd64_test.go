package seccomp

import (
	"slices"
	"testing"

	"podctl/stage1/seccomp/profile"
)

// TestGeneratedProgram checks that zprogram_amd64.go is what the profile
// assembles to now: after a change of the profile, run go generate.
func TestGeneratedProgram(t *testing.T) {
	for _, tracing := range []bool{true, false} {
		want, err := profile.Program(tracing)
		if err != nil {
			t.Fatal(err)
		}
		got, err := program(tracing)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("zprogram_amd64.go (tracing %v) differs from the profile: run go generate ./stage1/seccomp", tracing)
		}
	}
}
