package cgroup

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The few eBPF instructions a device program needs, and the two bpf(2)
// commands that load and attach one. cilium/ebpf builds the same program
// in a few lines, but linking it (and what it imports: debug/dwarf,
// go/parser, encoding/xml...) costs each of the three podctl processes of
// a native start its size and initialisation: about 1 ms of CPU per start,
// measured, against some 0.3 ms for loading and attaching the program
// where it is used at all.

// bpfInsn is one instruction, struct bpf_insn.
type bpfInsn struct {
	code uint8
	// regs holds dst_reg and src_reg, 4 bits each, in the order the
	// C bit-field has on this machine (regs).
	regs uint8
	off  int16
	imm  int32
}

// regs packs a destination and a source register as struct bpf_insn's
// bit-fields lay them out: the destination in the low bits on a
// little-endian machine, in the high bits on a big-endian one.
func regs(dst, src uint8) uint8 {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return dst&0xf | src<<4
	}
	return dst<<4 | src&0xf
}

// ldxW loads the 32-bit word at src+off into dst.
func ldxW(dst, src uint8, off int16) bpfInsn {
	return bpfInsn{code: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, regs: regs(dst, src), off: off}
}

// aluImm applies the 32-bit operation op (BPF_AND, BPF_RSH...) with imm to
// dst.
func aluImm(op uint8, dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU | op | unix.BPF_K, regs: regs(dst, 0), imm: imm}
}

// movImm sets dst to imm.
func movImm(dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: regs(dst, 0), imm: imm}
}

// jmpImm skips off instructions when the comparison op (BPF_JNE,
// BPF_JSET...) of dst with imm holds.
func jmpImm(op uint8, dst uint8, imm int32, off int16) bpfInsn {
	return bpfInsn{code: unix.BPF_JMP | op | unix.BPF_K, regs: regs(dst, 0), off: off, imm: imm}
}

// exit returns r0.
func exit() bpfInsn {
	return bpfInsn{code: unix.BPF_JMP | unix.BPF_EXIT}
}

// progLoadAttr is the BPF_PROG_LOAD part of union bpf_attr, up to the
// program's name.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

// progAttachAttr is the BPF_PROG_ATTACH part of union bpf_attr.
type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// loadProgram loads insns as a program of type progType and returns its
// descriptor. When the kernel refuses it, the error holds the verifier's
// account of why.
func loadProgram(progType uint32, insns []bpfInsn) (int, error) {
	license := []byte("Apache-2.0\x00")
	load := func(logBuf []byte) (int, error) {
		attr := progLoadAttr{
			progType: progType,
			insnCnt:  uint32(len(insns)),
			insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
			// No helper is called: the licence gives the program
			// nothing.
			license: uint64(uintptr(unsafe.Pointer(&license[0]))),
		}
		copy(attr.progName[:], "podctl_devices")
		if logBuf != nil {
			attr.logLevel = 1
			attr.logSize = uint32(len(logBuf))
			attr.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
		}
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		// The kernel reads them through the addresses in attr, which
		// the collector does not see.
		runtime.KeepAlive(insns)
		runtime.KeepAlive(license)
		runtime.KeepAlive(logBuf)
		return fd, err
	}
	fd, err := load(nil)
	if err == nil {
		return fd, nil
	}
	if err == unix.EINVAL || err == unix.EACCES {
		// Again, for the verifier's words.
		logBuf := make([]byte, 64*1024)
		if _, lerr := load(logBuf); lerr != nil {
			if n := bytes.IndexByte(logBuf, 0); n > 0 {
				return -1, fmt.Errorf("%w: %s", err, bytes.TrimSpace(logBuf[:n]))
			}
		}
	}
	return -1, err
}

// attachProgram attaches the program prog to the cgroup folder target.
func attachProgram(target, prog int, attachType, flags uint32) error {
	attr := progAttachAttr{
		targetFd:    uint32(target),
		attachBpfFd: uint32(prog),
		attachType:  attachType,
		attachFlags: flags,
	}
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}
