package stage1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// The variables that tell an app which pod it is in. stage1 always sets
// them, over any value the image or the user gave.
const (
	EnvPodUUID = "PODCTL_POD_UUID"
	EnvPodName = "PODCTL_POD_NAME"
)

// MaxSecretSize is the largest secret value: the kernel refuses an
// environment string longer than 32 pages (MAX_ARG_STRLEN), name included.
const MaxSecretSize = 128*1024 - 1024

// DefaultPath is the PATH an app gets when its image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ownDirs are the app folders stage1 mounts itself; a volume over them
// (or inside them) would hide or be hidden by the kernel's file systems.
var ownDirs = []string{"/proc", "/sys", "/dev"}

// CheckMountTarget refuses a mount target (clean, absolute) at or below a
// folder stage1 mounts itself.
func CheckMountTarget(target string) error {
	for _, d := range ownDirs {
		if target == d || strings.HasPrefix(target, d+"/") {
			return fmt.Errorf("%s is stage1's (it mounts %s itself)", target, d)
		}
	}
	return nil
}

// ReadSecret reads a secret value from a file: its whole content, but for
// one final newline (what `echo value >file` adds). A value must fit in an
// environment variable and hold no NUL byte.
func ReadSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretSize+2))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	switch {
	case len(b) > MaxSecretSize:
		return "", fmt.Errorf("%s holds more than %d bytes, too much for an environment variable", path, MaxSecretSize)
	case bytes.IndexByte(b, 0) >= 0:
		return "", fmt.Errorf("%s holds a NUL byte, which an environment variable cannot", path)
	}
	return string(b), nil
}
