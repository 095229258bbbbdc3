package main

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The verb assembles a request's filter, and refuses in one line what is
// not one.
func TestSeccompProgram(t *testing.T) {
	prog, err := seccompProgram(strings.NewReader(`{"filter":{"mode":"remove","errno":"ENOTSUP","syscalls":["mkdir"]},"tracing":true}`))
	if p, ok := prog.([]unix.SockFilter); err != nil || !ok || len(p) == 0 {
		t.Fatalf("a remove set: %v, %v", prog, err)
	}
	for _, bad := range []string{``, `{}`, `{"filter":{"mode":"retain","syscalls":["nosuchcall"]}}`, `{"filter":{"mode":"unconfined"}}`, `[1,2]`} {
		if _, err := seccompProgram(strings.NewReader(bad)); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("request %q: %v, want one line", bad, err)
		}
	}
}

// FuzzSeccompProgram feeds the verb any request: it answers or refuses,
// and never panics.
func FuzzSeccompProgram(f *testing.F) {
	f.Add(`{"filter":{"mode":"retain","syscalls":["read","write"]},"tracing":false}`)
	f.Add(`{"filter":{"mode":"remove","errno":"EPERM","syscalls":["mkdir","socket"]}}`)
	f.Fuzz(func(t *testing.T, req string) {
		seccompProgram(strings.NewReader(req))
	})
}
