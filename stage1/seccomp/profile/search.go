package profile

import (
	"fmt"
	"sort"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// go-seccomp-bpf assembles a policy into a linear chain: one comparison
// for each call the policy names, in the policy's order. The kernel runs
// such a chain twice over for nothing: seccomp(2) emulates the filter for
// every call number of the architecture, to cache the calls it allows
// whatever their arguments (Linux 5.11 and later), which costs a default
// profile's installation about 0.3 ms; and every call it cannot cache (a
// refused one, or one whose arguments are looked at) walks the chain
// again. withSearch puts a binary search on the call number in front of
// the chain: a call is decided in a dozen instructions, and only the
// calls whose verdict depends on more than their number and architecture
// go on to the chain, unchanged.

// searchLimit bounds the call numbers the search decides: every
// architecture's table ends below it; the chain decides the rest.
const searchLimit = 1024

// Offsets of seccomp_data's fields the search reads.
const (
	offsetNr   = 0
	offsetArch = 4
)

// searchRuns is the verdict of every call number below searchLimit of
// architecture auditArch in chain, as runs of numbers with the same one.
func searchRuns(chain []unix.SockFilter, auditArch uint32) ([]verdictRun, error) {
	var runs []verdictRun
	for nr := uint32(0); nr < searchLimit; nr++ {
		v, err := constantVerdict(chain, auditArch, nr)
		if err != nil {
			return nil, fmt.Errorf("seccomp program: call %d: %w", nr, err)
		}
		if n := len(runs); n > 0 && runs[n-1].verdict == v {
			continue
		}
		runs = append(runs, verdictRun{first: nr, verdict: v})
	}
	return append(runs, verdictRun{first: searchLimit, verdict: toChain}), nil
}

// withSearch returns a search over runs (searchRuns of a chain for
// architecture auditArch) followed by tail, to which the search jumps for
// the calls it leaves to the chain: tail is the chain, or one that gives
// the same verdicts for those calls.
func withSearch(runs []verdictRun, tail []unix.SockFilter, auditArch uint32) ([]unix.SockFilter, error) {
	var e emitter
	e.add(unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offsetArch})
	// Another architecture's calls: to the chain, which refuses them.
	e.add(unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, K: auditArch})
	e.jumpToChain()
	e.add(unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offsetNr})
	e.search(runs)
	out := e.link(tail)
	if len(out) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp program: %d instructions with the search, the kernel takes %d", len(out), unix.BPF_MAXINSNS)
	}
	return out, nil
}

// leftToChain reports whether runs leave call nr to the chain.
func leftToChain(runs []verdictRun, nr int) bool {
	if nr < 0 || nr >= searchLimit {
		return true
	}
	i := sort.Search(len(runs), func(i int) bool { return runs[i].first > uint32(nr) }) - 1
	return runs[i].verdict == toChain
}

// residual is policy p without the calls the search decides: what is
// left of its chain once the search is in front of it. An entry of the
// chain only ever matches its own call, so removing the others' changes
// no verdict of the calls left. ok is false when nothing is left (the
// library assembles no empty policy): the whole chain is the tail then.
func residual(p libseccomp.Policy, runs []verdictRun, names map[string]int) (r libseccomp.Policy, ok bool) {
	left := func(name string) bool {
		nr, known := names[name]
		// A name the architecture lacks fails to assemble in the
		// chain already.
		return !known || leftToChain(runs, nr)
	}
	r.DefaultAction = p.DefaultAction
	for _, g := range p.Syscalls {
		kept := libseccomp.SyscallGroup{Action: g.Action}
		for _, n := range g.Names {
			if left(n) {
				kept.Names = append(kept.Names, n)
			}
		}
		for _, c := range g.NamesWithCondtions {
			if left(c.Name) {
				kept.NamesWithCondtions = append(kept.NamesWithCondtions, c)
			}
		}
		if len(kept.Names)+len(kept.NamesWithCondtions) > 0 {
			r.Syscalls = append(r.Syscalls, kept)
		}
	}
	return r, len(r.Syscalls) > 0
}

// toChain is the verdict of a call the search leaves to the chain. No
// seccomp action has this value: the chain's verdicts are actions.
const toChain = ^uint64(0)

// verdictRun is a run of call numbers, from first to the next run's
// first, and the verdict they share: an action, or toChain.
type verdictRun struct {
	first   uint32
	verdict uint64
}

// emitter writes the search. Its jumps to the chain are resolved once the
// search's length is known (link).
type emitter struct {
	insts []unix.SockFilter
	// toChain are the indexes of the jumps to the chain.
	toChain []int
}

func (e *emitter) add(in unix.SockFilter) { e.insts = append(e.insts, in) }

func (e *emitter) jumpToChain() {
	e.toChain = append(e.toChain, len(e.insts))
	e.add(unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA})
}

// search writes the search over runs, with the call number in A. A
// comparison's two branches are at most one instruction apart (the
// right-hand half behind an unconditional jump, whose offset is 32 bits),
// so no conditional jump outgrows its 8-bit offset.
func (e *emitter) search(runs []verdictRun) {
	if len(runs) == 1 {
		if runs[0].verdict == toChain {
			e.jumpToChain()
		} else {
			e.add(unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: uint32(runs[0].verdict)})
		}
		return
	}
	mid := len(runs) / 2
	// A >= first of the right half: on to the jump; else past it, to the
	// left half.
	e.add(unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: 0, Jf: 1, K: runs[mid].first})
	jump := len(e.insts)
	e.add(unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA})
	e.search(runs[:mid])
	e.insts[jump].K = uint32(len(e.insts) - jump - 1)
	e.search(runs[mid:])
}

// link returns the search followed by chain, its jumps to the chain
// resolved.
func (e *emitter) link(chain []unix.SockFilter) []unix.SockFilter {
	start := len(e.insts)
	for _, i := range e.toChain {
		e.insts[i].K = uint32(start - i - 1)
	}
	return append(e.insts, chain...)
}

// constantVerdict is what prog answers to call nr of architecture
// auditArch when the answer depends on nothing else, or toChain when it
// reads more of seccomp_data on the way (arguments, the instruction
// pointer). It runs the few instructions a go-seccomp-bpf chain is made
// of, as the kernel does, and refuses a program with any other.
func constantVerdict(prog []unix.SockFilter, auditArch, nr uint32) (uint64, error) {
	var a uint32
	for pc := 0; ; pc++ {
		if pc >= len(prog) {
			return 0, fmt.Errorf("runs past the end of the program")
		}
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			switch in.K {
			case offsetNr:
				a = nr
			case offsetArch:
				a = auditArch
			default:
				return toChain, nil
			}
		case unix.BPF_RET | unix.BPF_K:
			return uint64(in.K), nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += branch(a == in.K, in)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += branch(a > in.K, in)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += branch(a >= in.K, in)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += branch(a&in.K != 0, in)
		default:
			return 0, fmt.Errorf("instruction %d: opcode %#04x is not one a chain is made of", pc, in.Code)
		}
	}
}

// branch is how far a conditional jump goes when its condition is cond.
func branch(cond bool, in unix.SockFilter) int {
	if cond {
		return int(in.Jt)
	}
	return int(in.Jf)
}
