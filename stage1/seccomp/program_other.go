//go:build !amd64

package seccomp

import (
	"golang.org/x/sys/unix"

	"podctl/stage1/seccomp/profile"
)

// program assembles the default filter: go-seccomp-bpf assembles only for
// the architecture it runs on, so mkprogram.go cannot make this one on an
// amd64 machine.
func program(tracing bool) ([]unix.SockFilter, error) {
	return profile.Program(tracing)
}
