package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
