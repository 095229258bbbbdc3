package cli

import (
	"context"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"podctl/stage0"
)

func newLogs(g *globals) *cobra.Command {
	var opts stage0.LogsOptions
	cmd := &cobra.Command{
		Use:   "logs [--app NAME] [--follow] [--tail N] UUID",
		Short: "Print what an app of a pod wrote to stdout and stderr",
		Long: `Print an app's output, each line to the stream it was written to. It
works while the pod runs and after it has exited, until the pod is removed.
--follow keeps printing until the pod exits.`,
		Example: `  podctl logs 5b1f2c3d
  podctl logs --app web --tail 20 --follow 5b1f2c3d`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			return stage0.Logs(ctx, g.config(), a[0], opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.App, "app", "", "app whose output to print (needed when the pod has several)")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing until the pod exits")
	cmd.Flags().IntVar(&opts.Tail, "tail", -1, "print only the last N lines")
	return cmd
}
