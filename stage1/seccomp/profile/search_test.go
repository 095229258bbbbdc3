package profile

import (
	"encoding/binary"
	"math/rand"
	"testing"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"podctl/stage1/seccomp/custom"
)

// vmOf loads prog into x/net/bpf's virtual machine, an interpreter that
// is not the one withSearch uses.
func vmOf(t testing.TB, prog []unix.SockFilter) *bpf.VM {
	t.Helper()
	insts := make([]bpf.Instruction, len(prog))
	for i, in := range prog {
		insts[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}.Disassemble()
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// run is vm's verdict on call nr of architecture auditArch with args.
// The virtual machine loads words big-endian, the kernel in the machine's
// order: each 32-bit word goes in big-endian where the kernel would have
// it, the low half of an argument first (little-endian hosts).
func run(t testing.TB, vm *bpf.VM, auditArch, nr uint32, args [6]uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], auditArch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[16+8*i+4:], uint32(a>>32))
	}
	v, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}

// argumentSets are the arguments every call is tried with: the values the
// profile's conditions compare with and their neighbours, in one
// argument and in all, and random ones.
func argumentSets() [][6]uint64 {
	values := []uint64{0, 1, 0xffffffff, 1 << 32, ^uint64(0), uint64(unix.SIGCHLD),
		afVsock - 1, afVsock, afVsock + 1, 1<<32 | afVsock,
		unix.TIOCSTI, unix.TIOCLINUX, unix.TIOCSTI + 1, 1<<32 | unix.TIOCSTI, unix.TCGETS,
		cloneNamespaceFlags, unix.CLONE_NEWNS, unix.CLONE_NEWUSER, unix.CLONE_NEWNET | unix.CLONE_VM,
		unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}
	values = append(values, personalities...)
	var sets [][6]uint64
	for _, v := range values {
		sets = append(sets, [6]uint64{v}, [6]uint64{0, v}, [6]uint64{v, v, v, v, v, v})
	}
	r := rand.New(rand.NewSource(1))
	for range 16 {
		var a [6]uint64
		for i := range a {
			a[i] = r.Uint64() >> uint(r.Intn(64))
		}
		sets = append(sets, a)
	}
	return sets
}

// searchPolicies are the default profile with and without the tracing
// calls.
func searchPolicies(t *testing.T) map[string]libseccomp.Policy {
	t.Helper()
	out := map[string]libseccomp.Policy{}
	for _, tracing := range []bool{true, false} {
		p, err := Policy(tracing)
		if err != nil {
			t.Fatal(err)
		}
		name := "default"
		if tracing {
			name += " with tracing"
		}
		out[name] = p
	}
	return out
}

// TestSearchKeepsVerdicts checks that the program with the search gives
// the chain's verdict for every call number of every architecture and
// ABI near the ones the filter knows, with arguments that meet and miss
// each condition: the search changes how fast a verdict is found, never
// which.
func TestSearchKeepsVerdicts(t *testing.T) {
	info := nativeArch(t)
	arches := []uint32{uint32(info.ID), uint32(arch.I386.ID), uint32(arch.ARM.ID), uint32(arch.AARCH64.ID), 0, ^uint32(0)}
	var nrs []uint32
	for nr := uint32(0); nr < searchLimit+64; nr++ {
		nrs = append(nrs, nr)
	}
	for nr := uint32(0); nr < 600; nr++ {
		nrs = append(nrs, 0x40000000|nr)
	}
	nrs = append(nrs, 0x3fffffff, 0x7fffffff, 0x80000000, ^uint32(0))
	args := argumentSets()

	policies := searchPolicies(t)
	for _, s := range []string{"mode=retain,read,write,clone,socket,ioctl,exit_group", "mode=retain,read,write",
		"mode=remove,errno=ENOTSUP,mkdir,clone,socket,personality", "mode=remove,ioctl"} {
		c, err := custom.ParseCustom(s)
		if err != nil {
			t.Fatal(err)
		}
		if policies[s], err = customPolicy(c, true); err != nil {
			t.Fatal(err)
		}
	}
	for name, p := range policies {
		chain, err := assembleChain(p)
		if err != nil {
			t.Fatal(err)
		}
		searched, err := assemble(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(searched) > unix.BPF_MAXINSNS {
			t.Fatalf("%s: %d instructions", name, len(searched))
		}
		before, after := vmOf(t, chain), vmOf(t, searched)
		differ := 0
		for _, a := range arches {
			for _, nr := range nrs {
				for _, as := range args {
					if v, w := run(t, after, a, nr, as), run(t, before, a, nr, as); v != w && differ < 10 {
						differ++
						t.Errorf("%s: arch %#x call %d args %#x: verdict %#x with the search, %#x without", name, a, nr, as, v, w)
					}
				}
			}
		}
	}
}

// chainLength is the length of the chain that follows prog's search: what
// its first jump to the chain skips to.
func chainLength(t *testing.T, prog []unix.SockFilter) int {
	t.Helper()
	// prog[2] is the arch check's jump to the chain.
	if prog[2].Code != unix.BPF_JMP|unix.BPF_JA {
		t.Fatalf("instruction 2 is %#v, not the jump to the chain", prog[2])
	}
	return len(prog) - (3 + int(prog[2].K))
}

// TestSearchIsShort checks what the search is for: the default profile's
// allowed and refused calls are decided without the chain, in a few
// instructions, and only the calls whose arguments matter reach it.
func TestSearchIsShort(t *testing.T) {
	info := nativeArch(t)
	prog, err := Program(true)
	if err != nil {
		t.Fatal(err)
	}
	chainStart := len(prog) - chainLength(t, prog)
	var toChain []string
	for nr := uint32(0); nr < searchLimit; nr++ {
		steps, pc := 0, 0
		for ; pc < chainStart && prog[pc].Code != unix.BPF_RET|unix.BPF_K; steps++ {
			in := prog[pc]
			switch in.Code {
			case unix.BPF_JMP | unix.BPF_JA:
				pc += 1 + int(in.K)
			case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
				pc += 1 + branch(uint32(info.ID) == in.K, in)
			case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
				pc += 1 + branch(nr >= in.K, in)
			default:
				pc++
			}
		}
		if pc >= chainStart {
			toChain = append(toChain, info.SyscallNumbers[int(nr)])
		} else if steps > 24 {
			t.Errorf("call %d takes %d instructions to decide", nr, steps)
		}
	}
	// clone, socket, ioctl and personality look at their arguments.
	if len(toChain) != 4 {
		t.Errorf("calls left to the chain: %q, want clone, socket, ioctl and personality", toChain)
	}
}

// A program with an instruction a chain is not made of is refused, not
// searched wrongly.
func TestSearchRefusesOtherPrograms(t *testing.T) {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offsetNr},
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 1},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
	if _, err := searchRuns(prog, uint32(nativeArch(t).ID)); err == nil {
		t.Error("a program with an ALU instruction was searched")
	}
	if _, err := searchRuns(prog[:1], uint32(nativeArch(t).ID)); err == nil {
		t.Error("a program that runs past its end was searched")
	}
}

// FuzzSearchCustom checks the search on the filters users write
// (--seccomp): for every call number of the native architecture, with a
// few arguments, the program gives its chain's verdict.
func FuzzSearchCustom(f *testing.F) {
	for _, s := range []string{"mode=retain,read,write,clone", "mode=remove,ioctl,socket", "mode=remove,errno=ENOTSUP,personality,mkdir,kill"} {
		f.Add(s)
	}
	info := nativeArch(f)
	args := [][6]uint64{{}, {cloneNamespaceFlags, unix.TIOCSTI}, {afVsock, unix.TCGETS}, {0x20000, 1<<32 | unix.TIOCLINUX}}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := custom.ParseCustom(s)
		if err != nil || c.Mode == custom.ModeUnconfined {
			return
		}
		p, err := customPolicy(c, true)
		if err != nil {
			return
		}
		chain, err := assembleChain(p)
		if err != nil {
			return
		}
		searched, err := assemble(p)
		if err != nil {
			t.Fatalf("%s: its chain assembles, the search does not: %v", s, err)
		}
		before, after := vmOf(t, chain), vmOf(t, searched)
		for nr := uint32(0); nr < searchLimit+8; nr++ {
			for _, as := range args {
				if v, w := run(t, after, uint32(info.ID), nr, as), run(t, before, uint32(info.ID), nr, as); v != w {
					t.Fatalf("%s: call %d args %#x: verdict %#x with the search, %#x without", s, nr, as, v, w)
				}
			}
		}
	})
}
