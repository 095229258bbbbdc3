package cli

import (
	"fmt"
	"runtime"

	"github.com/appc/spec/schema"
	"github.com/spf13/cobra"

	"podctl/internal/version"
	"podctl/stage1"
	"podctl/stage1/flavors"
)

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print podctl's version",
		Example: `  podctl version`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "podctl version: %s\n", version.Podctl)
			fmt.Fprintf(w, "appc version: %s\n", schema.AppContainerVersion)
			fmt.Fprintf(w, "go version: %s\n", runtime.Version())
			fmt.Fprintf(w, "go os/arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(w, "stage1 interface: %d\n", stage1.InterfaceVersion)
			fmt.Fprintf(w, "stage1 flavors: %v (default %s)\n", flavors.Names(), flavors.Default())
			return nil
		},
	}
}
