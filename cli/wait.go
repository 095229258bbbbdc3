package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"podctl/internal/errdefs"
	"podctl/stage0"
)

func newWait(g *globals) *cobra.Command {
	var cond, uuidFile string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait UUID... | --uuid-file FILE",
		Short: "Wait for pods to be running, ready or exited",
		Long: `Wait until the condition holds for every pod given, then print a line per
pod, in the order given: its exit code for --condition=exited (the code of
the first app that failed, or 0, as podctl run exits), else its UUID.

Conditions: running (the pod's stage1 runs it), ready (every app has
started, or said READY=1 with --ready=notify), exited (the pod has run and
ended; the default).

Exit status: 0 when the condition held for every pod; 124 when --timeout
ran out first (one line on stderr names the pods still waited for); 254
for an unknown pod, before any waiting, or for a pod the condition can
never hold for (one that exited before it became ready, or was removed),
after the others are done.`,
		Example: `  podctl wait 5b1f2c3d                      # prints the pod's exit code
  podctl wait --condition=ready --timeout=30s 5b1f2c3d 9a8e7f6d
  code=$(podctl wait --uuid-file=/run/job.uuid)`,
		RunE: func(cmd *cobra.Command, a []string) error {
			ids, err := podArgs(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			if timeout < 0 {
				return fmt.Errorf("--timeout %s is negative: give how long to wait, such as 30s", timeout)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			results, err := stage0.Wait(ctx, g.config(), ids, cond)
			if results == nil {
				return err
			}
			if err != nil {
				var left []string
				for _, r := range results {
					if !r.Done {
						left = append(left, r.UUID)
					}
				}
				for _, r := range results {
					if r.Done && r.Err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "podctl: %v\n", r.Err)
					}
				}
				if errors.Is(err, context.DeadlineExceeded) {
					return errdefs.New(errdefs.ErrTimeout, "timed out after %s waiting for %s to be %s", timeout, podList(left), cond)
				}
				return fmt.Errorf("stopped waiting for %s: %w", podList(left), err)
			}
			failed := 0
			for _, r := range results {
				switch {
				case r.Err != nil:
					fmt.Fprintf(cmd.ErrOrStderr(), "podctl: %v\n", r.Err)
					failed++
				case cond == stage0.WaitExited:
					fmt.Fprintln(cmd.OutOrStdout(), strconv.Itoa(r.ExitCode))
				default:
					fmt.Fprintln(cmd.OutOrStdout(), r.UUID)
				}
			}
			if failed > 0 {
				return exitStatus(ExitError)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cond, "condition", stage0.WaitExited, "what to wait for: "+strings.Join(stage0.WaitConditions, ", "))
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long and exit 124 (0: no limit)")
	addUUIDFile(cmd, &uuidFile)
	return cmd
}

func podList(ids []string) string {
	if len(ids) == 1 {
		return "pod " + ids[0]
	}
	return "pods " + strings.Join(ids, ", ")
}
