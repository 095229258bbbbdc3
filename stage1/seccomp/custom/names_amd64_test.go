package custom

import (
	"slices"
	"sort"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// TestGeneratedNames checks zsyscalls_amd64.go against go-seccomp-bpf's
// table: after an update of the library, run go generate ./stage1/seccomp.
func TestGeneratedNames(t *testing.T) {
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for n := range info.SyscallNames {
		want = append(want, n)
	}
	sort.Strings(want)
	if !slices.Equal(syscallTable[:], want) || archName != info.Name {
		t.Fatal("zsyscalls_amd64.go differs from go-seccomp-bpf's table: run go generate ./stage1/seccomp")
	}
	_, known, _ := syscallNames()
	if !known("mkdir") || !known("io_uring_setup") || known("nosuchcall") || known("") {
		t.Fatal("the names' lookup is wrong")
	}
}
