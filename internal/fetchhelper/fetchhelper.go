// Package fetchhelper runs podctl-fetch, the executable that holds what a
// pod's start must not link (registries, TLS, OpenPGP, the OCI and Docker
// formats): every package linked into podctl costs every pod start its
// initialisation. podctl-fetch is installed beside podctl.
package fetchhelper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Name is the helper's file name, beside podctl's.
const Name = "podctl-fetch"

// EnvPath, if set, is the helper to run instead of the one beside podctl.
const EnvPath = "PODCTL_FETCH_HELPER"

// Path finds the helper: $PODCTL_FETCH_HELPER, or podctl-fetch in the
// folder of the running podctl.
func Path() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", Name, err)
	}
	p := filepath.Join(filepath.Dir(self), Name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not installed beside %s: install it from the same build (./build.sh makes bin/%s)", Name, self, Name)
	}
	return p, nil
}

// ExitError is the helper's own failure: it has said why on stderr.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("%s exited with %d", Name, e.Code) }

// Run runs the helper's verb with args, for the data directory dataDir,
// with the given streams (nil: none). A failure the helper reported itself
// is an *ExitError.
func Run(dataDir string, stdin io.Reader, stdout, stderr io.Writer, verb string, args ...string) error {
	p, err := Path()
	if err != nil {
		return err
	}
	cmd := exec.Command(p, append([]string{verb}, args...)...)
	cmd.Env = append(os.Environ(), "PODCTL_DIR="+dataDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("running %s: %w", Name, err)
	}
	return nil
}
