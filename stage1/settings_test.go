package stage1

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseRlimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Rlimit
	}{
		{"nofile=1000:2000", Rlimit{"nofile", unix.RLIMIT_NOFILE, 1000, 2000}},
		{"nofile=1000", Rlimit{"nofile", unix.RLIMIT_NOFILE, 1000, 1000}},
		{"RLIMIT_NOFILE=0:unlimited", Rlimit{"nofile", unix.RLIMIT_NOFILE, 0, RlimInfinity}},
		{"Core=unlimited", Rlimit{"core", unix.RLIMIT_CORE, RlimInfinity, RlimInfinity}},
		{"rlimit_stack=8388608:UNLIMITED", Rlimit{"stack", unix.RLIMIT_STACK, 8388608, RlimInfinity}},
		{"as=unlimited", Rlimit{"as", unix.RLIMIT_AS, RlimInfinity, RlimInfinity}},
		{"nproc=10:20", Rlimit{"nproc", unix.RLIMIT_NPROC, 10, 20}},
		{"memlock=65536", Rlimit{"memlock", unix.RLIMIT_MEMLOCK, 65536, 65536}},
		{"fsize=1", Rlimit{"fsize", unix.RLIMIT_FSIZE, 1, 1}},
		{"cpu=5:10", Rlimit{"cpu", unix.RLIMIT_CPU, 5, 10}},
		{"data=unlimited", Rlimit{"data", unix.RLIMIT_DATA, RlimInfinity, RlimInfinity}},
		{"sigpending=100", Rlimit{"sigpending", unix.RLIMIT_SIGPENDING, 100, 100}},
		{"msgqueue=819200", Rlimit{"msgqueue", unix.RLIMIT_MSGQUEUE, 819200, 819200}},
		{"nice=0:20", Rlimit{"nice", unix.RLIMIT_NICE, 0, 20}},
		{"rtprio=0", Rlimit{"rtprio", unix.RLIMIT_RTPRIO, 0, 0}},
		{"locks=unlimited", Rlimit{"locks", unix.RLIMIT_LOCKS, RlimInfinity, RlimInfinity}},
	} {
		got, err := ParseRlimit(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRlimit(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		// The canonical form reads back the same.
		if again, err := ParseRlimit(got.String()); err != nil || again != got {
			t.Errorf("ParseRlimit(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
	if got := len(RlimitNames()); got != 14 {
		t.Errorf("%d limit names, want 14", got)
	}
}

func TestParseRlimitRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"bogus=1":               `unknown limit "bogus": choose one of as, core, cpu,`,
		"rlimit_rttime=1":       "unknown limit",
		"nofile":                "write NAME=SOFT[:HARD]",
		"=1":                    "unknown limit",
		"nofile=2000:1000":      "soft limit 2000 is above hard limit 1000",
		"nofile=unlimited:1000": "soft limit unlimited is above hard limit 1000",
		"nofile=":               `limit "" is not a number or unlimited`,
		"nofile=-1":             `limit "-1" is not a number`,
		"nofile=1k":             `limit "1k" is not a number`,
		"nofile=1:2:3":          `limit "2:3" is not a number`,
		"nofile=1:":             `limit "" is not a number`,
	} {
		_, err := ParseRlimit(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRlimit(%q): %v, want an error with %q", in, err, want)
		}
	}
}

func TestParseRlimitsLaterWins(t *testing.T) {
	rs, err := ParseRlimits([]string{"core=0", "nofile=10:20", "RLIMIT_CORE=unlimited"})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatRlimits(rs); got != "core=unlimited:unlimited,nofile=10:20" {
		t.Errorf("FormatRlimits = %q", got)
	}
	if _, err := ParseRlimits([]string{"nofile=1", "bogus=1"}); err == nil || !strings.HasPrefix(err.Error(), `--rlimit "bogus=1": unknown limit`) {
		t.Errorf("ParseRlimits with a bad one: %v", err)
	}
	if rs, err := ParseRlimits(nil); err != nil || rs != nil {
		t.Errorf("ParseRlimits(nil) = %v, %v", rs, err)
	}
}

func TestReadSettings(t *testing.T) {
	ann := map[string]string{AnnotationRlimits: "nofile=10:20,core=0:0", AnnotationOOMScoreAdj: "-7"}
	get := func(k string) (string, bool) { v, ok := ann[k]; return v, ok }
	var s AppSpec
	if err := readSettings(&s, get); err != nil {
		t.Fatal(err)
	}
	if FormatRlimits(s.Rlimits) != "nofile=10:20,core=0:0" || s.OOMScoreAdj == nil || *s.OOMScoreAdj != -7 {
		t.Errorf("read %+v", s)
	}
	ann[AnnotationOOMScoreAdj] = "1001"
	if err := readSettings(&s, get); err == nil {
		t.Error("oom_score_adj 1001 accepted")
	}
}

func TestCheckOOMScoreAdj(t *testing.T) {
	for _, n := range []int{-1000, 0, 1000} {
		if err := CheckOOMScoreAdj(n); err != nil {
			t.Errorf("%d: %v", n, err)
		}
	}
	for _, n := range []int{-1001, 1001, 5000} {
		if err := CheckOOMScoreAdj(n); err == nil {
			t.Errorf("%d accepted", n)
		}
	}
}

func getrlimit(t *testing.T, res int) unix.Rlimit {
	t.Helper()
	var l unix.Rlimit
	if err := prlimit(res, nil, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// childNofile is what a child started through os/exec sees as its
// RLIMIT_NOFILE, soft:hard.
func childNofile(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", "echo $(ulimit -n):$(ulimit -Hn)").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func fmtLimit(l unix.Rlimit) string {
	return Rlimit{Soft: l.Cur, Hard: l.Max}.values()
}

// ApplySettings changes this test process: each step puts back what it
// changed. Only changes an unprivileged process may make and undo are
// made, so the test runs as any user.
func TestApplySettingsAndRestore(t *testing.T) {
	core := getrlimit(t, unix.RLIMIT_CORE)
	nofile := getrlimit(t, unix.RLIMIT_NOFILE)
	oldAdj, err := readOOMScoreAdj()
	if err != nil {
		t.Fatal(err)
	}
	if oldAdj >= 1000 {
		t.Skip("oom_score_adj is 1000 already")
	}
	before := childNofile(t)
	if os.Getenv("PODCTL_TEST_LOW_NOFILE") != "" && (before != "256:"+formatRlimitValue(nofile.Max) || nofile.Cur+1 != nofile.Max) {
		t.Fatalf("started with RLIMIT_NOFILE 256:%d, the runtime raised it to %s, and a child gets %s", nofile.Max, fmtLimit(nofile), before)
	}
	soft := nofile.Cur / 2
	if nofile.Max != RlimInfinity && soft >= nofile.Max-1 {
		soft = nofile.Max / 2
	}
	adj := oldAdj + 1
	s := &AppSpec{Name: "a", OOMScoreAdj: &adj, Rlimits: []Rlimit{
		{Name: "core", Resource: unix.RLIMIT_CORE, Soft: 0, Hard: core.Max},
		{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: soft, Hard: nofile.Max},
	}}
	restore, warnings, err := ApplySettings(s)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("ApplySettings: %v %q", err, warnings)
	}
	if got := getrlimit(t, unix.RLIMIT_CORE); got.Cur != 0 || got.Max != core.Max {
		t.Errorf("RLIMIT_CORE is %s", fmtLimit(got))
	}
	if got, _ := readOOMScoreAdj(); got != adj {
		t.Errorf("oom_score_adj is %d, want %d", got, adj)
	}
	// A child started now, as a native pod's init starts an app, gets the
	// limit: the Go runtime does not put its original back.
	want := formatRlimitValue(soft) + ":" + formatRlimitValue(nofile.Max)
	if got := childNofile(t); got != want {
		t.Errorf("a child sees RLIMIT_NOFILE %s, want %s", got, want)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if got := getrlimit(t, unix.RLIMIT_CORE); got != core {
		t.Errorf("RLIMIT_CORE is %s after restore, want %s", fmtLimit(got), fmtLimit(core))
	}
	if got := getrlimit(t, unix.RLIMIT_NOFILE); got != nofile {
		t.Errorf("RLIMIT_NOFILE is %s after restore, want %s", fmtLimit(got), fmtLimit(nofile))
	}
	if got, _ := readOOMScoreAdj(); got != oldAdj {
		t.Errorf("oom_score_adj is %d after restore, want %d", got, oldAdj)
	}
	// And a child started after restore gets what children got before.
	if got := childNofile(t); got != before {
		t.Errorf("after restore a child sees RLIMIT_NOFILE %s, want %s as before", got, before)
	}
}

// The Go runtime's RLIMIT_NOFILE bookkeeping is at work only in a process
// started with a soft limit below its hard limit less one: run
// TestApplySettingsAndRestore again in such a process.
func TestApplySettingsAndRestoreGoRaised(t *testing.T) {
	if os.Getenv("PODCTL_TEST_LOW_NOFILE") != "" {
		t.Skip("in the child")
	}
	nofile := getrlimit(t, unix.RLIMIT_NOFILE)
	if nofile.Max < 1024 {
		t.Skipf("hard RLIMIT_NOFILE %d is too low to lower the soft one", nofile.Max)
	}
	// Set without telling the runtime, so the child inherits it.
	low := unix.Rlimit{Cur: 256, Max: nofile.Max}
	if err := prlimit(unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplySettingsAndRestore$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "PODCTL_TEST_LOW_NOFILE=1")
	out, err := cmd.CombinedOutput()
	if perr := prlimit(unix.RLIMIT_NOFILE, &nofile, nil); perr != nil {
		t.Fatal(perr)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestApplySettingsAndRestore ") {
		t.Fatalf("in a process started with RLIMIT_NOFILE %s: %v\n%s", fmtLimit(low), err, out)
	}
}

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
	nofile := getrlimit(t, unix.RLIMIT_NOFILE)
	s := &AppSpec{Name: "a", Rlimits: []Rlimit{
		{Name: "core", Resource: unix.RLIMIT_CORE, Soft: 0, Hard: core.Max},
		// Above fs.nr_open: EPERM, even for root.
		{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: nrOpen + 1},
	}}
	restore, warnings, err := ApplySettings(s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := restore(); err != nil {
			t.Fatal(err)
		}
	}()
	if len(warnings) != 1 {
		t.Fatalf("warnings %q, want one", warnings)
	}
	want := "app a: cannot set RLIMIT_NOFILE to 1024:" + strconv.FormatUint(nrOpen+1, 10) + " (operation not permitted); going on with "
	if !strings.HasPrefix(warnings[0], want) || strings.Contains(warnings[0], "\n") {
		t.Errorf("warning %q, want it to start with %q", warnings[0], want)
	}
	if got := getrlimit(t, unix.RLIMIT_NOFILE); got != nofile {
		t.Errorf("refused RLIMIT_NOFILE changed to %s", fmtLimit(got))
	}
	// The other setting holds.
	if got := getrlimit(t, unix.RLIMIT_CORE); got.Cur != 0 {
		t.Errorf("RLIMIT_CORE is %s", fmtLimit(got))
	}
}

// A failure the kernel does not blame on privilege is an error, and what
// was set before it is undone.
func TestApplySettingsErrorUndoes(t *testing.T) {
	core := getrlimit(t, unix.RLIMIT_CORE)
	s := &AppSpec{Name: "a", Rlimits: []Rlimit{
		{Name: "core", Resource: unix.RLIMIT_CORE, Soft: 0, Hard: core.Max},
		// Soft above hard: EINVAL. stage0 refuses it; the spec could be
		// written by hand.
		{Name: "fsize", Resource: unix.RLIMIT_FSIZE, Soft: 2000, Hard: 1000},
	}}
	restore, _, err := ApplySettings(s)
	if err == nil {
		restore()
		t.Fatal("soft above hard accepted")
	}
	if !strings.Contains(err.Error(), "app a: setting RLIMIT_FSIZE to 2000:1000: invalid argument") {
		t.Errorf("error %q", err)
	}
	if got := getrlimit(t, unix.RLIMIT_CORE); got != core {
		t.Errorf("RLIMIT_CORE is %s after a failed ApplySettings, want %s", fmtLimit(got), fmtLimit(core))
	}
}
