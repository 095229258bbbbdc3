package appexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// execHelper builds podctl-exec, the exec helper in C that reads what
// WireHead and Resolved.Wire write, as build.sh does.
func execHelper(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the exec helper drops capabilities and changes users: run the tests as root (CI does)")
	}
	bin := filepath.Join(t.TempDir(), "podctl-exec")
	out, err := exec.Command("gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin, "../../cmd/podctl-exec/podctl-exec.c").CombinedOutput()
	if err != nil {
		t.Fatalf("building podctl-exec (apt-get install -y gcc libc6-dev): %v\n%s", err, out)
	}
	return bin
}

// runHelper runs the helper bin as a pod's init does, writing spec to its
// spec pipe and closing it, and returns what it wrote to its stdout and
// error pipe, and its exit status.
func runHelper(t *testing.T, bin string, spec []byte) (stdout, said string, code int) {
	t.Helper()
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, WireProtocol)
	cmd.ExtraFiles = []*os.File{errW, self, specR}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errW.Close()
	specR.Close()
	self.Close()
	specW.Write(spec)
	specW.Close()
	b, _ := io.ReadAll(errR)
	errR.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), string(b), code
}

// wire is the head and the resolved spec of s, as the init writes them.
func wire(t *testing.T, s *Spec) ([]byte, *Resolved) {
	t.Helper()
	head, err := WireHead(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.Wire()
	if err != nil {
		t.Fatal(err)
	}
	return append(head, msg...), r
}

// The helper becomes the app the resolved spec describes: its command,
// found on its PATH, in its working directory, with its environment,
// user, capabilities, no_new_privs and the default seccomp filter, and
// says nothing on the error pipe.
func TestWireExecutes(t *testing.T) {
	bin := execHelper(t)
	s := &Spec{Name: "a", Exec: []string{"sh", "-c", `echo "$FOO"; pwd; id -u; grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status`},
		Env: []string{"FOO=bar", "PATH=/usr/bin:/bin"}, User: "65534", Group: "65534", WorkingDir: "/tmp",
		Confined: true, Capabilities: []string{"CAP_NET_BIND_SERVICE"}}
	spec, _ := wire(t, s)
	out, said, code := runHelper(t, bin, spec)
	if code != 0 || said != "" {
		t.Fatalf("exit %d, error pipe %q", code, said)
	}
	for _, want := range []string{"bar\n/tmp\n65534\n", "CapBnd:\t0000000000000400", "CapEff:\t0000000000000400", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(out, want) {
			t.Errorf("the app said %q, want %q in it", out, want)
		}
	}
}

// A spec the helper cannot read whole is refused in one line, and nothing
// is executed; a pipe closed before the spec ends the helper quietly.
func TestWireRefused(t *testing.T) {
	bin := execHelper(t)
	s := &Spec{Name: "a", Exec: []string{"/bin/true"}, User: "0", Group: "0"}
	spec, _ := wire(t, s)
	head, err := WireHead(s)
	if err != nil {
		t.Fatal(err)
	}
	garbage := binary.LittleEndian.AppendUint32(append([]byte{}, head...), 8)
	garbage = append(garbage, 1, 2, 3, 4, 5, 6, 7, 8)
	for _, c := range []struct {
		name string
		spec []byte
		code int
		said string
	}{
		{"nothing", nil, 0, ""},
		{"head alone", head, 0, ""},
		{"malformed", garbage, 1, "app a: reading the app's resolved spec: it is malformed\n"},
		{"cut short", spec[:len(spec)-3], 1, "app a: reading the app's resolved spec: it ends early\n"},
	} {
		_, said, code := runHelper(t, bin, c.spec)
		if code != c.code || said != c.said {
			t.Errorf("%s: exit %d, error pipe %q; want %d, %q", c.name, code, said, c.code, c.said)
		}
	}
}

// An executable whose interpreter is missing reads as such, not as the
// program missing, which is what the kernel says.
func TestWireMissingInterpreter(t *testing.T) {
	bin := execHelper(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!"+dir+"/nope\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Spec{Name: "a", Exec: []string{script}, User: "0", Group: "0"}
	spec, r := wire(t, s)
	_, said, code := runHelper(t, bin, spec)
	if code != 1 || said != "app a: executing "+script+": no such file or directory\n" {
		t.Fatalf("exit %d, error pipe %q", code, said)
	}
	got := r.ExplainExecFailure(strings.TrimSpace(said))
	if want := "app a: " + script + " is a script for " + dir + "/nope, which the image does not have"; got != want {
		t.Errorf("explained as %q, want %q", got, want)
	}
}

// The app's environment is what podctl's own helper makes of it: one
// entry a name, where its first was, with its last value.
func TestWireEnvironment(t *testing.T) {
	got := environment([]string{"A=1", "B=2", "A=3", "C", "B=4=5"})
	want := []string{"A=3", "B=4=5", "C="}
	if !slices.Equal(got, want) {
		t.Errorf("environment = %q, want %q", got, want)
	}
}

// podctl-exec reads whatever comes on its spec pipe without crashing:
// every cut of a real spec, and random changes to its bytes, end in an
// error line, or in a spec that still reads and an app that runs.
func TestWireDamagedNeverCrashes(t *testing.T) {
	bin := execHelper(t)
	s := &Spec{Name: "a", Exec: []string{"/bin/true", "x"}, Env: []string{"A=1"}, User: "0", Group: "0",
		Rlimits: []Rlimit{{Name: "nofile", Resource: 7, Soft: 1024, Hard: 1024}}}
	spec, _ := wire(t, s)
	head, err := WireHead(s)
	if err != nil {
		t.Fatal(err)
	}
	var cases [][]byte
	for n := len(head); n < len(spec); n++ {
		cases = append(cases, spec[:n])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := bytes.Clone(spec)
		for range 1 + rng.IntN(4) {
			b[len(head)+rng.IntN(len(b)-len(head))] = byte(rng.IntN(256))
		}
		cases = append(cases, b)
	}
	for _, c := range cases {
		// -1: killed by a signal.
		_, said, code := runHelper(t, bin, c)
		if code == -1 || said != "" && (code != 1 || !strings.HasPrefix(said, "app a: ")) {
			t.Fatalf("spec %x: exit %d, error pipe %q", c, code, said)
		}
	}
}
