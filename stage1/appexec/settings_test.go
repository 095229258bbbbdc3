package appexec

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func getrlimit(t *testing.T, res int) unix.Rlimit {
	t.Helper()
	var l unix.Rlimit
	if err := prlimit(res, nil, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func fmtLimit(l unix.Rlimit) string {
	return Rlimit{Soft: l.Cur, Hard: l.Max}.Values()
}

// lowNofile is the soft RLIMIT_NOFILE execWithSettings starts its child
// with: below the hard limit less one, so that the child's Go runtime
// raises its own and puts this one back before an exec, as it does in a
// helper started from a shell with the usual soft limit.
const lowNofile = 256

// execWithSettings does in a child what ExecApp does with s's settings:
// applySettings, then an exec, here of a shell that prints the app's soft
// and hard RLIMIT_NOFILE and RLIMIT_CORE and its oom_score_adj as
// "NOFILE CORE ADJ" (limits as SOFT:HARD). The child starts with soft
// RLIMIT_NOFILE lowNofile and the hard limit of this process, which
// execWithSettings returns with the warnings. The change of user is left
// out, so that the test runs as any user.
func execWithSettings(t *testing.T, s *Spec) (printed string, warnings []string, hard uint64) {
	t.Helper()
	nofile := getrlimit(t, unix.RLIMIT_NOFILE)
	if nofile.Max == RlimInfinity || nofile.Max < 1024 {
		t.Skipf("hard RLIMIT_NOFILE %s leaves too little room below it", FormatRlimitValue(nofile.Max))
	}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	// Set without telling the runtime, so the child inherits it.
	low := unix.Rlimit{Cur: lowNofile, Max: nofile.Max}
	if err := prlimit(unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExecWithSettingsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), execSettingsEnv+"="+string(js))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if perr := prlimit(unix.RLIMIT_NOFILE, &nofile, nil); perr != nil {
		t.Fatal(perr)
	}
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		w, ok := strings.CutPrefix(line, "warning: ")
		if !ok {
			if line != "" {
				t.Fatalf("child wrote to its standard error %q", line)
			}
			continue
		}
		warnings = append(warnings, w)
	}
	return strings.TrimSpace(stdout.String()), warnings, nofile.Max
}

// execSettingsEnv carries the AppSpec of TestExecWithSettingsChild.
const execSettingsEnv = "PODCTL_TEST_EXEC_SETTINGS"

// TestExecWithSettingsChild is the child of execWithSettings.
func TestExecWithSettingsChild(t *testing.T) {
	js := os.Getenv(execSettingsEnv)
	if js == "" {
		t.Skip("run by execWithSettings")
	}
	var s Spec
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	// The runtime raised the limit it was started with, and would put
	// that back before an exec.
	if got := getrlimit(t, unix.RLIMIT_NOFILE); got.Cur != got.Max-1 {
		t.Fatalf("started with soft RLIMIT_NOFILE %d, the Go runtime left it at %s", lowNofile, fmtLimit(got))
	}
	warnings, err := applySettings(&s)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	err = syscall.Exec("/bin/sh", []string{"sh", "-c", showSettings}, os.Environ())
	t.Fatalf("executing /bin/sh: %v", err)
}

// showSettings prints what execWithSettings returns.
const showSettings = `echo $(ulimit -Sn):$(ulimit -Hn) $(ulimit -Sc):$(ulimit -Hc) $(cat /proc/self/oom_score_adj)`

// The app gets each setting, a nofile limit included, which the Go
// runtime does not put back before the exec. Only changes an unprivileged
// process may make are asked for, so the test runs as any user.
func TestApplySettings(t *testing.T) {
	core := getrlimit(t, unix.RLIMIT_CORE)
	adj, err := readOOMScoreAdj()
	if err != nil {
		t.Fatal(err)
	}
	if adj >= 1000 {
		t.Skip("oom_score_adj is 1000 already")
	}
	adj++
	// The hard limit stays: the runtime could not raise a lowered one
	// back without CAP_SYS_RESOURCE, and the test would not tell whether
	// it was kept from putting its original back.
	hard := getrlimit(t, unix.RLIMIT_NOFILE).Max
	soft := uint64(lowNofile + 44)
	s := &Spec{
		Name:        "a",
		OOMScoreAdj: &adj,
		Rlimits: []Rlimit{
			{Name: "core", Resource: unix.RLIMIT_CORE, Soft: 0, Hard: core.Max},
			{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: soft, Hard: hard},
		},
	}
	printed, warnings, _ := execWithSettings(t, s)
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	want := fmt.Sprintf("%d:%s 0:%s %d", soft, FormatRlimitValue(hard), FormatRlimitValue(core.Max), adj)
	if printed != want {
		t.Errorf("the app got %q, want %q (NOFILE CORE ADJ)", printed, want)
	}
}

// Without a nofile limit, the app gets the soft RLIMIT_NOFILE the helper
// was started with, not the Go runtime's.
func TestApplySettingsNoNofile(t *testing.T) {
	core := getrlimit(t, unix.RLIMIT_CORE)
	adj, err := readOOMScoreAdj()
	if err != nil {
		t.Fatal(err)
	}
	s := &Spec{
		Name: "a",
		Rlimits: []Rlimit{
			{Name: "core", Resource: unix.RLIMIT_CORE, Soft: 0, Hard: core.Max},
		},
	}
	printed, warnings, hard := execWithSettings(t, s)
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	want := fmt.Sprintf("%d:%s 0:%s %d", lowNofile, FormatRlimitValue(hard), FormatRlimitValue(core.Max), adj)
	if printed != want {
		t.Errorf("the app got %q, want %q (NOFILE CORE ADJ)", printed, want)
	}
}

// A refused setting is one warning and leaves the app what it would have
// had; the others hold. A refused nofile limit leaves the Go runtime's
// bookkeeping alone, so the app gets the soft limit the helper was
// started with, as the warning says.
func TestApplySettingsRefused(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	core := getrlimit(t, unix.RLIMIT_CORE)
	adj, err := readOOMScoreAdj()
	if err != nil {
		t.Fatal(err)
	}
	s := &Spec{
		Name: "a",
		Rlimits: []Rlimit{
			{Name: "core", Resource: unix.RLIMIT_CORE, Soft: 0, Hard: core.Max},
			// Above fs.nr_open: EPERM, even for root.
			{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: nrOpen + 1},
		},
	}
	printed, warnings, hard := execWithSettings(t, s)
	if len(warnings) != 1 {
		t.Fatalf("warnings %q, want one", warnings)
	}
	want := fmt.Sprintf("app a: cannot set RLIMIT_NOFILE to 1024:%d (operation not permitted); going on with the soft limit it inherits and hard limit %s", nrOpen+1, FormatRlimitValue(hard))
	if warnings[0] != want {
		t.Errorf("warning %q, want %q", warnings[0], want)
	}
	wantPrinted := fmt.Sprintf("%d:%s 0:%s %d", lowNofile, FormatRlimitValue(hard), FormatRlimitValue(core.Max), adj)
	if printed != wantPrinted {
		t.Errorf("the app got %q, want %q (NOFILE CORE ADJ)", printed, wantPrinted)
	}
}

// A failure the kernel does not blame on privilege is an error. These
// fail before changing anything, so they run in this process.
func TestApplySettingsError(t *testing.T) {
	fsize := getrlimit(t, unix.RLIMIT_FSIZE)
	adj, err := readOOMScoreAdj()
	if err != nil {
		t.Fatal(err)
	}
	tooHigh := 1001
	for _, c := range []struct {
		s    *Spec
		want string
	}{
		// Soft above hard: EINVAL. stage0 refuses it; the spec could be
		// written by hand.
		{&Spec{Name: "a", Rlimits: []Rlimit{{Name: "fsize", Resource: unix.RLIMIT_FSIZE, Soft: 2000, Hard: 1000}}},
			"app a: setting RLIMIT_FSIZE to 2000:1000: invalid argument"},
		{&Spec{Name: "a", OOMScoreAdj: &tooHigh},
			"app a: setting oom_score_adj to 1001: write /proc/self/oom_score_adj: invalid argument"},
	} {
		warnings, err := applySettings(c.s)
		if err == nil || err.Error() != c.want || warnings != nil {
			t.Errorf("applySettings: %v, %q; want error %q", err, warnings, c.want)
		}
	}
	if got := getrlimit(t, unix.RLIMIT_FSIZE); got != fsize {
		t.Errorf("RLIMIT_FSIZE is %s, want %s", fmtLimit(got), fmtLimit(fsize))
	}
	if got, _ := readOOMScoreAdj(); got != adj {
		t.Errorf("oom_score_adj is %d, want %d", got, adj)
	}
}
