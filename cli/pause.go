package cli

import (
	"github.com/spf13/cobra"

	"podctl/stage0"
)

func newPause(g *globals) *cobra.Command {
	var uuidFile string
	cmd := &cobra.Command{
		Use:   "pause UUID... | --uuid-file FILE",
		Short: "Freeze every process of running pods",
		Long: `Freeze every process of each pod with the cgroup freezer (cgroup2's
cgroup.freeze, or the v1 freezer), and wait until the kernel has. The pod
stays running; status shows it paused until podctl resume. A paused pod can
be stopped: stop resumes it first. Prints the UUID of each pod paused.`,
		Example: `  podctl pause 5b1f2c3d
  podctl resume 5b1f2c3d`,
		RunE: func(cmd *cobra.Command, a []string) error {
			ids, err := podArgs(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			return forEachPod(cmd, ids, func(id string) (string, error) { return stage0.Pause(g.config(), id) })
		},
	}
	addUUIDFile(cmd, &uuidFile)
	return rootOnly(cmd)
}

func newResume(g *globals) *cobra.Command {
	var uuidFile string
	cmd := &cobra.Command{
		Use:     "resume UUID... | --uuid-file FILE",
		Short:   "Thaw paused pods",
		Long:    `Let every process of each paused pod run again. Prints the UUID of each pod resumed; a pod that is not paused is resumed all the same.`,
		Example: `  podctl resume 5b1f2c3d`,
		RunE: func(cmd *cobra.Command, a []string) error {
			ids, err := podArgs(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			return forEachPod(cmd, ids, func(id string) (string, error) { return stage0.Resume(g.config(), id) })
		},
	}
	addUUIDFile(cmd, &uuidFile)
	return rootOnly(cmd)
}
