package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Device allows the device nodes of one type and number to be opened.
// No rule of podctl's allows mknod: an app cannot make a node for a
// device it may not open, and a node it made for one it may open gives it
// nothing more.
type Device struct {
	// Type is 'c' (character) or 'b' (block).
	Type byte
	// Major and Minor are the device's numbers; AnyMinor for all the
	// minors of Major.
	Major, Minor int64
	// Access is what may be done: "r", "w" or "rw".
	Access string
}

// AnyMinor, as a Device's Minor, stands for every minor number.
const AnyMinor = -1

// DefaultDevices are the only device nodes an app of an isolated flavor
// may open: those a program expects of any Unix, and its terminals (the
// pod's own pseudo-terminals, and its console).
var DefaultDevices = []Device{
	{'c', 1, 3, "rw"},          // null
	{'c', 1, 5, "rw"},          // zero
	{'c', 1, 7, "rw"},          // full
	{'c', 1, 8, "rw"},          // random
	{'c', 1, 9, "rw"},          // urandom
	{'c', 5, 0, "rw"},          // tty
	{'c', 5, 1, "rw"},          // console
	{'c', 5, 2, "rw"},          // ptmx
	{'c', 136, AnyMinor, "rw"}, // pts/*
}

// String is the rule as the v1 devices controller reads it: "c 1:3 rw".
func (d Device) String() string {
	minor := "*"
	if d.Minor != AnyMinor {
		minor = strconv.FormatInt(d.Minor, 10)
	}
	return fmt.Sprintf("%c %d:%s %s", d.Type, d.Major, minor, d.Access)
}

// newAppDevices makes the app's cgroup folder that holds its device
// policy, DefaultDevices and extra, and returns it: in the v1 devices hierarchy
// where the host mounts one, else in the unified hierarchy, with a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached.
//
// The kernel checks both (the programs of the unified hierarchy first,
// then the v1 controller), so either one confines the app. Where the v1
// controller is mounted it is the one used: writing ten rules costs less
// than loading a program, and it is what the host's other tools use
// there.
func (g *Group) newAppDevices(app string, extra []Device) (string, error) {
	rules := slices.Concat(DefaultDevices, extra)
	if d := g.v1["devices"]; d != "" {
		dir := filepath.Join(d, app)
		if err := g.mkdirChild(dir); err != nil {
			return "", fmt.Errorf("creating device cgroup of app %s: %w", app, err)
		}
		if err := writeV1Devices(dir, rules); err != nil {
			return "", fmt.Errorf("limiting the devices of app %s: %w", app, err)
		}
		return dir, nil
	}
	mounts := g.mounts
	if mounts == nil {
		var err error
		if mounts, _, err = readSelf(); err != nil {
			return "", err
		}
	}
	if devicesMount(mounts) != "" {
		// Its pod's group was made without "devices" in its also list:
		// the app would be free in the host's controller.
		return "", fmt.Errorf("app %s must have a device policy, and its pod's cgroup has no folder in the devices hierarchy", app)
	}
	if !g.unified || len(g.Dirs) == 0 {
		return "", fmt.Errorf("app %s must have a device policy, and this host has neither the v1 devices controller nor the unified cgroup hierarchy", app)
	}
	dir := filepath.Join(g.Dirs[0], app)
	if err := g.mkdirChild(dir); err != nil {
		return "", fmt.Errorf("creating device cgroup of app %s: %w", app, err)
	}
	if err := AttachDevices(dir, rules); err != nil {
		return "", fmt.Errorf("limiting the devices of app %s: %w", app, err)
	}
	return dir, nil
}

// devicesMount is where the v1 devices hierarchy is mounted, "" if it is
// not.
func devicesMount(mounts []Mount) string {
	for _, m := range mounts {
		if !m.V2 && contains(m.Controllers, "devices") {
			return m.Dir
		}
	}
	return ""
}

// writeV1Devices makes rules the only devices the v1 devices cgroup dir
// allows: it denies all, then allows each rule. The controller reads one
// rule per write.
func writeV1Devices(dir string, rules []Device) error {
	if err := os.WriteFile(filepath.Join(dir, "devices.deny"), []byte("a"), 0); err != nil {
		return fmt.Errorf("writing devices.deny: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "devices.allow"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("writing devices.allow: %w", err)
	}
	for _, r := range rules {
		if _, err := f.Write([]byte(r.String())); err != nil {
			f.Close()
			return fmt.Errorf("writing devices.allow %q: %w", r, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing devices.allow: %w", err)
	}
	return nil
}

// AttachDevices attaches to the cgroup2 folder dir a device program that
// allows the processes in it (and below it) to open only the devices of
// rules, and refuses every mknod. It is attached with BPF_F_ALLOW_MULTI:
// a program attached below may refuse more, never allow more. The program
// stays attached after this process has exited, until the folder is
// removed.
//
// The program is built and loaded with the bpf system call itself: a BPF
// library linked into podctl would cost every pod start more than the
// program does (see devices_bpf.go).
func AttachDevices(dir string, rules []Device) error {
	insns, err := deviceProgram(rules)
	if err != nil {
		return err
	}
	prog, err := loadProgram(unix.BPF_PROG_TYPE_CGROUP_DEVICE, insns)
	if err != nil {
		return fmt.Errorf("loading the device program: %w", err)
	}
	defer unix.Close(prog)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	// BPF_PROG_ATTACH, not a BPF link, which would detach the program
	// when this process ends.
	if err := attachProgram(fd, prog, unix.BPF_CGROUP_DEVICE, unix.BPF_F_ALLOW_MULTI); err != nil {
		return fmt.Errorf("attaching the device program to %s: %w", dir, err)
	}
	return nil
}

// The context of a device program (struct bpf_cgroup_dev_ctx): the type
// in the low 16 bits of its first word and the access in the high ones,
// then the major and the minor number.
const (
	devCtxAccessType = 0
	devCtxMajor      = 4
	devCtxMinor      = 8
	accAll           = unix.BPF_DEVCG_ACC_MKNOD | unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE
)

// deviceProgram builds the device program for rules: it returns 1 (allow)
// for an access one rule allows, 0 otherwise. Each rule is a block that
// jumps to the next one at the first field that does not match:
//
//	r2 = type, r3 = access, r4 = major, r5 = minor
//	rule:  if r2 != TYPE goto next; if r3 & ^ACCESS goto next;
//	       if r4 != MAJOR goto next; [if r5 != MINOR goto next;]
//	       return 1
//	next:  ... return 0
func deviceProgram(rules []Device) ([]bpfInsn, error) {
	const r0, r1, r2, r3, r4, r5 = 0, 1, 2, 3, 4, 5
	insns := []bpfInsn{
		ldxW(r2, r1, devCtxAccessType),
		aluImm(unix.BPF_AND, r2, 0xffff),
		ldxW(r3, r1, devCtxAccessType),
		aluImm(unix.BPF_RSH, r3, 16),
		ldxW(r4, r1, devCtxMajor),
		ldxW(r5, r1, devCtxMinor),
	}
	for _, r := range rules {
		var typ int32
		switch r.Type {
		case 'c':
			typ = unix.BPF_DEVCG_DEV_CHAR
		case 'b':
			typ = unix.BPF_DEVCG_DEV_BLOCK
		default:
			return nil, fmt.Errorf("device rule %q: type %q is neither c nor b", r, r.Type)
		}
		var access int32
		for _, c := range r.Access {
			switch c {
			case 'r':
				access |= unix.BPF_DEVCG_ACC_READ
			case 'w':
				access |= unix.BPF_DEVCG_ACC_WRITE
			default:
				return nil, fmt.Errorf("device rule %q: access may be r and w only", r)
			}
		}
		if access == 0 || r.Major < 0 || r.Major > 0xfff || r.Minor < AnyMinor || r.Minor > 0xfffff {
			return nil, fmt.Errorf("device rule %q is not valid", r)
		}
		// The tests: {op, register, value}, each sending a device it
		// does not match to the next rule.
		tests := [][3]int32{
			{unix.BPF_JNE, r2, typ},
			// Any access the rule does not name.
			{unix.BPF_JSET, r3, accAll &^ access},
			{unix.BPF_JNE, r4, int32(r.Major)},
		}
		if r.Minor != AnyMinor {
			tests = append(tests, [3]int32{unix.BPF_JNE, r5, int32(r.Minor)})
		}
		for k, tst := range tests {
			// Past the tests left and the two instructions of "return 1".
			skip := len(tests) - k - 1 + 2
			insns = append(insns, jmpImm(uint8(tst[0]), uint8(tst[1]), tst[2], int16(skip)))
		}
		insns = append(insns, movImm(r0, 1), exit())
	}
	return append(insns, movImm(r0, 0), exit()), nil
}

// DeferDevices splits the cgroup folders dirs of an app into those that
// are not in the v1 devices hierarchy, and the deepest one that is,
// opened to be joined later (nil where dirs has none). A thread that sets
// up the app's root, and makes its /dev with mknod, joins the device
// cgroup last, just before it forks the app: the app's policy refuses
// mknod.
func DeferDevices(dirs []string) (rest []string, devices *DeferredJoin, err error) {
	dev := ""
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "devices.deny")); err == nil {
			if len(d) > len(dev) {
				dev = d
			}
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("joining cgroup %s: %w", d, err)
		}
		rest = append(rest, d)
	}
	if dev == "" {
		return rest, nil, nil
	}
	// Opened now: the thread's root is about to change.
	j, err := deferJoin([]string{dev})
	if err != nil {
		return nil, nil, err
	}
	return rest, j, nil
}

// DeferredJoin is v1 cgroup folders opened for the calling thread to join
// later, when their paths may no longer lead to them (its root has
// changed).
type DeferredJoin struct {
	files []*os.File
	dirs  []string
}

// deferJoin opens the folders dirs for a DeferredJoin.
func deferJoin(dirs []string) (*DeferredJoin, error) {
	j := &DeferredJoin{dirs: dirs}
	for _, d := range dirs {
		f, err := os.OpenFile(filepath.Join(d, "tasks"), os.O_WRONLY, 0)
		if err != nil {
			j.Close()
			return nil, fmt.Errorf("joining cgroup %s: %w", d, err)
		}
		j.files = append(j.files, f)
	}
	return j, nil
}

// Join moves the calling thread into each folder, in order, and lets go
// of them. A nil DeferredJoin has nothing to join.
func (j *DeferredJoin) Join() error {
	if j == nil {
		return nil
	}
	defer j.Close()
	for i, f := range j.files {
		// "0" is the writing thread.
		if _, err := f.Write([]byte("0")); err != nil {
			return fmt.Errorf("joining cgroup %s: %w", j.dirs[i], err)
		}
	}
	return nil
}

// Close lets go of the folders without joining them, if they were not
// joined.
func (j *DeferredJoin) Close() {
	if j == nil {
		return
	}
	for _, f := range j.files {
		f.Close()
	}
	j.files = nil
}
