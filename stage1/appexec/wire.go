package appexec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"podctl/internal/passwd"
	"podctl/stage1/seccomp"
)

// WireProtocol is what a native pod's init and podctl-exec, the exec
// helper in C (cmd/podctl-exec), speak on the spec pipe: the init writes
// the helper's head (WireHead) at its fork, then, once the app's root is
// ready, the app's spec resolved there (Resolve, Resolved.Wire). The init
// passes it as the helper's last argument, as it does Protocol to podctl's
// own helper verb.
const WireProtocol = "podctl-exec-protocol/3"

// The flags of a resolved spec, as podctl-exec reads them.
const (
	wireNoNewPrivs = 1 << iota
	wireDieWith
	wireOOM
	wireNotRoot
)

// maxWire bounds a resolved spec, as podctl-exec does (MAX_WIRE).
const maxWire = 16 << 20

// WireHead is what the init writes to podctl-exec as it forks it: the
// bounding set the helper keeps while it waits for the app's root (the
// app's capabilities and those to become it, HelperCapabilities), and the
// app's name, for its errors.
func WireHead(s *Spec) ([]byte, error) {
	caps, err := s.HelperCapabilities()
	if err != nil {
		return nil, err
	}
	if len(s.Name) > 4096 {
		return nil, fmt.Errorf("app name %.20s... is over 4096 bytes", s.Name)
	}
	b := binary.LittleEndian.AppendUint64(nil, CapabilityBits(caps))
	return appendString(b, s.Name), nil
}

// Resolved is an app's spec as podctl-exec applies it: every name turned
// into the number or path it stands for in the app's root.
type Resolved struct {
	// name is the app's, for the errors about it.
	name       string
	flags      uint32
	uid, gid   int
	groups     []int
	bounding   uint64
	ambient    uint64
	dieWith    int
	oom        int
	rlimits    []Rlimit
	dir, path  string
	argv, envp []string
	filter     []unix.SockFilter
}

// Resolve resolves s as podctl's own helper does at the start of Exec,
// with the same errors: the user and group from the image's files, the
// working directory, the command's path on the app's PATH, the
// capabilities and the seccomp program. The calling thread's root and
// working directory are the app's root, as the thread that set it up
// and forked the helper has them once it pivoted.
func Resolve(s *Spec) (*Resolved, error) {
	if len(s.Exec) == 0 {
		return nil, fmt.Errorf("app %s: no command to execute", s.Name)
	}
	uid, gid, err := passwd.Resolve("/", s.User, s.Group)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", s.Name, err)
	}
	wd := s.WorkingDir
	if wd == "" {
		wd = "/"
	}
	fi, err := os.Stat(wd)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("app %s: working directory %s does not exist in the image", s.Name, wd)
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("app %s: working directory %s: chdir %s: %w", s.Name, wd, wd, unix.ENOTDIR)
	}
	// podctl-exec changes to it, and says why if it cannot.
	path, err := lookPath(s.Exec[0], envPath(s.Env), filepath.Join("/", wd))
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", s.Name, err)
	}
	caps, err := s.CapabilitySet()
	if err != nil {
		return nil, err
	}
	r := &Resolved{name: s.Name, uid: uid, gid: gid, groups: append([]int{gid}, s.SupplementaryGIDs...),
		bounding: CapabilityBits(caps), dieWith: s.DieWith, rlimits: s.Rlimits,
		dir: wd, path: path, argv: s.Exec, envp: environment(s.Env)}
	if uid != 0 {
		r.flags |= wireNotRoot
		// A non-root app has no capabilities unless it asked for some.
		if s.Capabilities != nil {
			r.ambient = r.bounding
		}
	}
	if s.DieWith != 0 {
		r.flags |= wireDieWith
	}
	if s.OOMScoreAdj != nil {
		r.flags |= wireOOM
		r.oom = *s.OOMScoreAdj
	}
	if s.Confined {
		if !s.NewPrivileges {
			r.flags |= wireNoNewPrivs
		}
		if r.filter, err = seccomp.Filter(s.Seccomp, s.SeccompProgram); err != nil {
			return nil, fmt.Errorf("app %s: %w", s.Name, err)
		}
	}
	return r, nil
}

// environment is env as podctl's own helper gives it to the app, through
// os.Setenv of each entry: one entry a name, in the order of its first,
// with the value of its last.
func environment(env []string) []string {
	out := make([]string, 0, len(env))
	at := map[string]int{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if i, ok := at[k]; ok {
			out[i] = k + "=" + v
			continue
		}
		at[k] = len(out)
		out = append(out, k+"="+v)
	}
	return out
}

// envPath is the value of PATH in env, a list of KEY=VALUE.
func envPath(env []string) string {
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	return path
}

// Wire encodes r as podctl-exec reads it: its length, then the fields in
// a fixed order, little-endian, each string and list led by its length.
func (r *Resolved) Wire() ([]byte, error) {
	b := make([]byte, 4, 512)
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	strs := func(l []string) {
		u32(uint32(len(l)))
		for _, s := range l {
			b = appendString(b, s)
		}
	}
	u32(r.flags)
	u32(uint32(r.uid))
	u32(uint32(r.gid))
	u32(uint32(len(r.groups)))
	for _, g := range r.groups {
		u32(uint32(g))
	}
	u64(r.bounding)
	u64(r.ambient)
	u32(uint32(r.dieWith))
	u32(uint32(int32(r.oom)))
	u32(uint32(len(r.rlimits)))
	for _, l := range r.rlimits {
		u32(uint32(l.Resource))
		u64(l.Soft)
		u64(l.Hard)
		b = appendString(b, l.KernelName())
	}
	b = appendString(b, r.dir)
	b = appendString(b, r.path)
	strs(r.argv)
	strs(r.envp)
	u32(uint32(len(r.filter)))
	for _, f := range r.filter {
		u32(uint32(f.Code) | uint32(f.Jt)<<16 | uint32(f.Jf)<<24)
		u32(f.K)
	}
	if len(b)-4 > maxWire {
		return nil, fmt.Errorf("the app's resolved spec is over %d bytes", maxWire)
	}
	for _, s := range append(append([]string{r.dir, r.path}, r.argv...), r.envp...) {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("%q has a NUL byte", s)
		}
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ExplainExecFailure is podctl-exec's error line msg about the app r was
// resolved for, made clearer where the kernel's error misleads: executing
// the command failed with ENOENT although the file is there, because its
// interpreter is not (missingInterpreter). It runs in the app's root, as
// Resolve does.
func (r *Resolved) ExplainExecFailure(msg string) string {
	if !strings.HasSuffix(msg, fmt.Sprintf(": executing %s: %s", r.path, unix.ENOENT.Error())) {
		return msg
	}
	if why := missingInterpreter(from(filepath.Join("/", r.dir), r.path), r.path); why != "" {
		return fmt.Sprintf("app %s: %s", r.name, why)
	}
	return msg
}
