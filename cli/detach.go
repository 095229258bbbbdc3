package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"podctl/lifecycle"
	"podctl/stage0"
)

const detachUsage = "run the pod in the background: print its UUID once it is ready and return (with -i, its terminal is reached with podctl attach)"

// runDetach is run --detach: in the caller, it starts the pod's own
// podctl; in that podctl (stage0.DetachedChild), it runs the pod, and
// says its warnings and error where the caller reads them.
//
// created hands run the function to call once the pod exists (see
// stage0.Detached.Setup).
func runDetach(cmd *cobra.Command, c stage0.Config, ro *stage0.RunOptions, created func(func(*lifecycle.Pod) error), run func() error) error {
	d, err := stage0.DetachedChild()
	if err != nil {
		return err
	}
	if d == nil {
		return startDetached(cmd, c, *ro)
	}
	ro.Warn, ro.NoEarly = d.Report, true
	hook, err := d.Setup(ro.Interactive)
	if err == nil {
		created(hook)
		err = run()
	}
	code, print := exitCode(err)
	if print {
		d.Report(err)
	}
	return exitStatus(code)
}

// startDetached is the caller's side of run --detach: it starts the pod's
// own podctl and prints the pod's UUID once the pod is ready.
func startDetached(cmd *cobra.Command, c stage0.Config, ro stage0.RunOptions) error {
	if ro.Task.Stdin {
		return fmt.Errorf("--stdin feeds this podctl's standard input to the app, and a detached pod outlives it: use --interactive and podctl attach")
	}
	id, err := stage0.RunDetached(c, "/proc/self/exe", os.Args[1:])
	var se *stage0.DetachedStartError
	if errors.As(err, &se) {
		fmt.Fprintf(cmd.ErrOrStderr(), "podctl: %s\n", se.Msg)
		return exitStatus(se.Code)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), id)
	return nil
}

func newAttach(g *globals) *cobra.Command {
	var opts stage0.AttachOptions
	cmd := &cobra.Command{
		Use:   "attach [--no-stdin] [--app NAME] UUID",
		Short: "Connect to a running pod's terminal, or follow its output",
		Long: `Connect to a pod started with run --detach --interactive: what its app
shows appears here (starting with the last screenful it showed), and what
you type reaches it, Ctrl-C included. Type ` + stage0.DetachKeys + ` to leave it
running; attach ends by itself when the app closes its terminal.
--no-stdin only watches; Ctrl-C then ends attach.

Any other running pod has no terminal: attach follows its app's output,
as podctl logs --follow does, until the pod exits or Ctrl-C.
Leaving attach never stops the pod.`,
		Example: `  UUID=$(podctl run -d -i example.com/busybox --exec /bin/sh)
  podctl attach $UUID                  # Ctrl-P Ctrl-Q leaves the shell running
  podctl attach --no-stdin $UUID
  podctl attach --app web 5b1f2c3d     # a pod without a terminal: its output`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			err := stage0.Attach(ctx, g.config(), a[0], opts, os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if errors.Is(err, stage0.ErrDetached) {
				// After the raw terminal: start a fresh line.
				fmt.Fprintf(cmd.ErrOrStderr(), "\r\npodctl: detached; the pod goes on (podctl attach %s reconnects)\n", a[0])
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.NoStdin, "no-stdin", false, "only watch the terminal: send it nothing")
	cmd.Flags().StringVar(&opts.App, "app", "", "app whose output to follow, in a pod of several apps without a terminal")
	return cmd
}
