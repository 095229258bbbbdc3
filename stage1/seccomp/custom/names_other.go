//go:build !amd64

package custom

import "github.com/elastic/go-seccomp-bpf/arch"

// syscallNames is the architecture's name and a test of the system call
// names it knows. Off amd64 the table is go-seccomp-bpf's; on amd64 it is
// generated from it ahead of time (zsyscalls_amd64.go).
func syscallNames() (string, func(string) bool, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return "", nil, err
	}
	return info.Name, func(n string) bool { _, ok := info.SyscallNames[n]; return ok }, nil
}
