package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"podctl/stage0"
)

// podManifestConflicts are the pod flags --pod-manifest refuses, besides
// every app flag: what they set, the manifest says.
var podManifestConflicts = []string{
	"volume", "port", "set-env", "set-env-file", "set-env-secret", "inherit-env",
	"label", "annotation", "device",
}

// withPodManifest reads --pod-manifest, refusing it with image arguments
// or with a flag that sets what the manifest says.
func (f *podFlags) withPodManifest(args []string) (*stage0.PrepareOptions, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("conflicting flags set with --pod-manifest: give no image (%s) with it, the manifest names the images", args[0])
	}
	var appOnly pflag.FlagSet
	var af appFlags
	af.add(&appOnly, &stage0.AppOptions{}, false)
	var bad []string
	f.fs.Visit(func(fl *pflag.Flag) {
		if appOnly.Lookup(fl.Name) != nil || slices.Contains(podManifestConflicts, fl.Name) {
			bad = append(bad, "--"+fl.Name)
		}
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("conflicting flags set with --pod-manifest: %v: the manifest says what they would (see --help)", bad)
	}
	pm, err := stage0.ReadPodManifest(f.podManifest)
	if err != nil {
		return nil, err
	}
	return &stage0.PrepareOptions{PodManifest: pm}, nil
}

// imagesOrPodManifest wants at least one image, unless --pod-manifest
// names them (withPodManifest refuses images with it).
func imagesOrPodManifest(cmd *cobra.Command, a []string) error {
	if fl := cmd.Flags().Lookup("pod-manifest"); fl != nil && fl.Changed {
		return nil
	}
	return cobra.MinimumNArgs(1)(cmd, a)
}
