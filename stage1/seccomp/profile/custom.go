package profile

import (
	"fmt"
	"slices"
	"sort"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"

	"podctl/stage1/seccomp/custom"
)

// CustomProgram assembles c (retain or remove) into a BPF program for
// seccomp(2). tracing is as for Policy.
func CustomProgram(c *custom.Custom, tracing bool) ([]unix.SockFilter, error) {
	policy, err := customPolicy(c, tracing)
	if err != nil {
		return nil, err
	}
	return assemble(policy)
}

// customPolicy is the policy of c, as for CustomProgram.
func customPolicy(c *custom.Custom, tracing bool) (libseccomp.Policy, error) {
	if err := c.Check(); err != nil {
		return libseccomp.Policy{}, err
	}
	e, _ := c.ErrnoValue()
	refuse := libseccomp.ActionErrno | libseccomp.Action(e)
	var policy libseccomp.Policy
	switch c.Mode {
	case custom.ModeRetain:
		allow := unique(append(append([]string{}, custom.AlwaysRetained...), c.Syscalls...))
		// The library's default action takes no errno of its own: every
		// other call of the architecture is named, and numbers it does
		// not know fail with EPERM.
		info, err := arch.GetInfo("")
		if err != nil {
			return libseccomp.Policy{}, fmt.Errorf("seccomp: %w", err)
		}
		var others []string
		for n := range info.SyscallNames {
			if !slices.Contains(allow, n) {
				others = append(others, n)
			}
		}
		sort.Strings(others)
		policy = libseccomp.Policy{DefaultAction: libseccomp.ActionErrno, Syscalls: []libseccomp.SyscallGroup{
			{Names: allow, Action: libseccomp.ActionAllow},
			{Names: others, Action: refuse},
		}}
	case custom.ModeRemove:
		def, err := Policy(tracing)
		if err != nil {
			return libseccomp.Policy{}, err
		}
		// The first group that names a call decides it.
		groups := []libseccomp.SyscallGroup{{Names: unique(c.Syscalls), Action: refuse}}
		policy = libseccomp.Policy{DefaultAction: def.DefaultAction, Syscalls: append(groups, def.Syscalls...)}
	default:
		return libseccomp.Policy{}, fmt.Errorf("seccomp mode %q has no program", c.Mode)
	}
	return policy, nil
}

// unique returns names sorted, each once.
func unique(names []string) []string {
	out := slices.Clone(names)
	sort.Strings(out)
	return slices.Compact(out)
}
