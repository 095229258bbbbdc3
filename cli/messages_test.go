package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"podctl/internal/errdefs"
	"podctl/stage0"
)

// runCLI runs podctl's command line in this process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(append([]string{"--dir", t.TempDir()}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// checkOneLine asserts a failure as podctl's own: exit 254 and one line
// on stderr holding want.
func checkOneLine(t *testing.T, what string, code int, stderr, want string) {
	t.Helper()
	msg := strings.TrimSpace(stderr)
	if code != ExitError || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "podctl: ") || !strings.Contains(msg, want) {
		t.Errorf("%s: want exit 254 and one line with %q, got exit %d and %q", what, want, code, stderr)
	}
}

func TestUnknownCommandOneLine(t *testing.T) {
	code, _, stderr := runCLI(t, "staus")
	checkOneLine(t, "a misspelt verb", code, stderr, `unknown command "staus" for "podctl" (did you mean stats or status?): see podctl --help`)
	code, _, stderr = runCLI(t, "xyzzy")
	checkOneLine(t, "an unknown verb", code, stderr, `unknown command "xyzzy" for "podctl": see podctl --help`)
}

func TestHelpUnknownTopic(t *testing.T) {
	code, stdout, stderr := runCLI(t, "help", "nosuch")
	checkOneLine(t, "help of an unknown verb", code, stderr, `no help for "nosuch"`)
	if stdout != "" {
		t.Errorf("help of an unknown verb printed %q", stdout)
	}
	code, _, stderr = runCLI(t, "help", "image", "lst")
	checkOneLine(t, "help of an unknown sub-verb", code, stderr, `no help for "image lst"`)
	code, stdout, _ = runCLI(t, "help", "image", "list")
	if code != 0 || !strings.Contains(stdout, "podctl image list") {
		t.Errorf("help image list: exit %d, %q", code, stdout)
	}
}

func TestUUIDFileSaveChecked(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "nope", "uuid"), "folder " + filepath.Join(dir, "nope") + " does not exist"},
		{filepath.Join(file, "uuid"), file + " is not a folder"},
		{dir, "is a folder"},
	} {
		err := checkUUIDFileSave(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "--uuid-file-save ") {
			t.Errorf("--uuid-file-save %s: want an error with %q, got %v", c.path, c.want, err)
		}
	}
	if err := checkUUIDFileSave(filepath.Join(dir, "uuid")); err != nil {
		t.Errorf("--uuid-file-save in a writable folder: %v", err)
	}
}

// A value stage0's parsers refuse is refused as the flag is read, in the
// parser's own line: the same whether the flag is the pod's default or an
// app's own, and not wrapped in the flag parser's words.
func TestTypedFlagMessages(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "lots", "img"}, `podctl: --memory "lots" is not a size such as 64M or 1G`},
		{[]string{"img", "--memory", "lots"}, `podctl: --memory "lots" is not a size such as 64M or 1G`},
		{[]string{"img", "--memory=1M"}, "podctl: --memory 1M is below 6Mi (6,291,456 bytes), the least an app can start in: give at least 6Mi"},
		{[]string{"--cpu=0", "img"}, `podctl: --cpu "0" is not a share of a core such as 500m or 2`},
		{[]string{"img", "--environment", "A"}, `podctl: environment setting "A" is not KEY=VALUE`},
		{[]string{"--set-env", "PODCTL_POD_UUID=x", "img"}, "podctl: PODCTL_POD_UUID is set by podctl in every app: it cannot be given"},
		{[]string{"--label", "tier", "img"}, `podctl: --label "tier" is not KEY=VALUE`},
		{[]string{"--volume", "data,kind=empty,mode=9", "img"}, `podctl: volume data: mode "9" is not an octal number such as 0755`},
		{[]string{"img", "--mount", "volume=a,target=/proc"}, `podctl: mount "volume=a,target=/proc": /proc is stage1's (it mounts /proc itself): choose a target outside /proc, /sys and /dev`},
		{[]string{"img", "--rlimit", "nothing=1"}, `podctl: --rlimit "nothing=1": unknown limit "nothing"`},
		{[]string{"img", "--oom-score-adj", "1001"}, "podctl: --oom-score-adj 1001 is not between -1000 and 1000"},
		// Values that are not numbers keep the flag parser's framing.
		{[]string{"img", "--pids-limit=0"}, `podctl: after image img: invalid argument "0" for "--pids-limit" flag: 0 is below 1: give at least 1, or leave the flag out for no limit`},
		{[]string{"--pids-limit=x", "img"}, `podctl: invalid argument "x" for "--pids-limit" flag: "x" is not a whole number: see podctl prepare --help`},
	} {
		code, _, stderr := runCLI(t, append([]string{"prepare"}, c.args...)...)
		checkOneLine(t, strings.Join(c.args, " "), code, stderr, c.want)
		if !strings.HasPrefix(stderr, c.want) {
			t.Errorf("%q: stderr %q, want it to start %q", c.args, stderr, c.want)
		}
	}
}

// Every class of error has its exit status here, and only here.
func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		err   error
		code  int
		print bool
	}{
		{nil, 0, false},
		{exitStatus(7), 7, false},
		{fmt.Errorf("wrapped: %w", exitStatus(130)), 130, false},
		{errdefs.New(errdefs.ErrTimeout, "timed out"), ExitTimeout, true},
		{errdefs.New(stage0.ErrUsage, "bad"), ExitError, true},
		{errdefs.New(errdefs.ErrNotFound, "none"), ExitError, true},
		{errdefs.New(errdefs.ErrBusy, "busy"), ExitError, true},
		{errors.New("anything else"), ExitError, true},
	} {
		if code, print := exitCode(c.err); code != c.code || print != c.print {
			t.Errorf("exitCode(%v) = %d, %t; want %d, %t", c.err, code, print, c.code, c.print)
		}
	}
}
