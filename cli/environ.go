package cli

import (
	"os"
	"slices"

	"podctl/stage0"
)

// environment is every app's environment of the command line: the
// variables of --set-env-file, then --set-env's, and, with --inherit-env,
// podctl's own environment, which the apps get under every other setting.
func (f *podFlags) environment() (set, inherit []stage0.EnvVar, err error) {
	if f.setEnvFile != "" {
		if set, err = stage0.ReadEnvFile(f.setEnvFile); err != nil {
			return nil, nil, err
		}
	}
	set = append(set, slices.Clone(f.setEnv)...)
	if f.inheritEnv {
		inherit = stage0.HostEnv(os.Environ())
	}
	return set, inherit, nil
}
