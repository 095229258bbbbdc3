package seccomp

import "golang.org/x/sys/unix"

// program returns the default filter, generated ahead of time into
// zprogram_amd64.go.
func program(tracing bool) ([]unix.SockFilter, error) {
	if tracing {
		return programWithTracing, nil
	}
	return programWithoutTracing, nil
}
