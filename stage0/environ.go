package stage0

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/internal/rootless"
)

// The environment of an app, lowest precedence first: podctl's own
// defaults (PATH, HOME), then, with --inherit-env, the environment podctl
// was started with (never over a variable set any other way), the image's,
// --set-env-file's, --set-env's and the app's own --environment.

// maxEnvFile bounds a --set-env-file: an environment larger than this
// could not be passed to execve anyway.
const maxEnvFile = 1 << 20

// ReadEnvFile reads a --set-env-file: one KEY=VALUE a line; empty lines and
// lines starting with "#" are skipped. The value is the rest of the line,
// as written (no quotes are removed).
func ReadEnvFile(path string) ([]EnvVar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errdefs.New(ErrUsage, "--set-env-file %s: %v", path, err)
	}
	defer f.Close()
	vars, err := ParseEnvFile(io.LimitReader(f, maxEnvFile+1))
	if err != nil {
		return nil, errdefs.New(ErrUsage, "--set-env-file %s: %v", path, err)
	}
	return vars, nil
}

// ParseEnvFile reads the variables of an environment file (ReadEnvFile).
func ParseEnvFile(r io.Reader) ([]EnvVar, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(b) > maxEnvFile {
		return nil, fmt.Errorf("larger than %d bytes", maxEnvFile)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, fmt.Errorf("holds a NUL byte, which no variable can")
	}
	var vars []EnvVar
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxEnvFile+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		v, err := ParseEnv(strings.TrimLeft(line, " \t"))
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		vars = append(vars, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return vars, nil
}

// HostEnv is environ (as os.Environ gives it) as variables --inherit-env
// may pass on: those podctl sets itself in every app, the markers of a
// podctl it started itself (a detached one, one in a user namespace),
// and entries that are not NAME=VALUE, are left out. The caller reads
// environ before a detached podctl takes its marker out (DetachedChild).
func HostEnv(environ []string) []EnvVar {
	var out []EnvVar
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || k == DetachEnv || k == rootless.EnvInside || checkPodEnvName(k) != nil {
			continue
		}
		out = append(out, EnvVar{Name: k, Value: v})
	}
	return out
}

// inheritEnv gives app each of vars it does not set already.
func inheritEnv(app *types.App, vars []EnvVar) {
	for _, v := range vars {
		if _, set := app.Environment.Get(v.Name); !set {
			app.Environment.Set(v.Name, v.Value)
		}
	}
}
