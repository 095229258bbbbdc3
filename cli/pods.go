package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"podctl/stage0"
	"podctl/stage1"
)

func newCatManifest(g *globals) *cobra.Command {
	var pretty bool
	var uuidFile string
	cmd := &cobra.Command{
		Use:   "cat-manifest UUID | --uuid-file FILE",
		Short: "Print a pod's manifest",
		Example: `  podctl cat-manifest 5b1f2c3d | jq '.apps[].name'
  podctl cat-manifest --uuid-file=/run/web.uuid --pretty-print=false`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := podArgs(cmd, args, uuidFile)
			if err != nil {
				return err
			}
			p, err := g.config().OpenPod(ids[0])
			if err != nil {
				return err
			}
			defer p.Close()
			b, _, err := p.PodManifest()
			if err != nil {
				return err
			}
			return printRawJSON(cmd, b, pretty)
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty-print", true, "indent the JSON")
	addUUIDFile(cmd, &uuidFile)
	return cmd
}

func printRawJSON(cmd *cobra.Command, b []byte, pretty bool) error {
	b = bytes.TrimSpace(b)
	if pretty {
		var buf bytes.Buffer
		if err := json.Indent(&buf, b, "", "  "); err != nil {
			return err
		}
		b = buf.Bytes()
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}

func newEnter(g *globals) *cobra.Command {
	var app string
	cmd := &cobra.Command{
		Use:   "enter [--app NAME] UUID [CMD [ARGS...]]",
		Short: "Run a command inside a running app (default /bin/sh)",
		Long:  "Run a command in the root and environment of a running app and exit with its status.",
		Example: `  podctl enter 5b1f2c3d cat /etc/hostname
  podctl enter --app web 5b1f2c3d`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return enter(g, args[0], app, args[1:])
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&app, "app", "", "app to enter (needed when the pod has several)")
	return cmd
}

// enter runs command in app of pod id on this terminal (enter, app exec),
// podctl exiting with its status.
func enter(g *globals, id, app string, command []string) error {
	code, err := stage0.Enter(g.config(), id, app, command, stage1.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

func newStop(g *globals) *cobra.Command {
	var force bool
	var uuidFile string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "stop UUID... | --uuid-file FILE",
		Short: "Stop running pods",
		Long: `Ask each pod to stop (SIGTERM to its apps) and wait for it to exit; a pod
still running after --grace-period is killed. --force kills at once.
Prints the UUID of each pod stopped; a pod that has already exited is
reported and is not an error.`,
		Example: `  podctl stop 5b1f2c3d
  podctl stop --force 5b1f2c3d 9a8e7f6d
  podctl stop --uuid-file=/run/web.uuid`,
		RunE: func(cmd *cobra.Command, a []string) error {
			ids, err := podArgs(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			return forEachPod(cmd, ids, func(id string) (string, error) {
				uuid, err := stage0.Stop(g.config(), id, force, grace)
				if errors.Is(err, stage0.ErrAlreadyStopped) {
					fmt.Fprintf(cmd.ErrOrStderr(), "podctl: pod %s is already stopped\n", uuid)
					return "", nil
				}
				return uuid, err
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "kill the pods at once")
	cmd.Flags().DurationVar(&grace, "grace-period", 10*time.Second, "how long to wait before killing")
	addUUIDFile(cmd, &uuidFile)
	return cmd
}

func newRm(g *globals) *cobra.Command {
	var uuidFile string
	cmd := &cobra.Command{
		Use:   "rm UUID... | --uuid-file FILE",
		Short: "Remove pods that are not running",
		Long: `Remove prepared and exited pods now, without a grace period. A running pod
is refused: stop it first.`,
		Example: `  podctl rm 5b1f2c3d
  podctl rm $(podctl list --format=json | jq -r '.[] | select(.state == "exited") | .uuid')
  podctl rm --uuid-file=/run/web.uuid`,
		RunE: func(cmd *cobra.Command, a []string) error {
			ids, err := podArgs(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			return forEachPod(cmd, ids, func(id string) (string, error) {
				uuid, err := stage0.Remove(g.config(), id)
				if errors.Is(err, stage0.ErrRemovedMeanwhile) {
					// Gone, as asked: said, not failed.
					fmt.Fprintf(cmd.ErrOrStderr(), "podctl: %v\n", err)
					return uuid, nil
				}
				return uuid, err
			})
		},
	}
	addUUIDFile(cmd, &uuidFile)
	return userNS(cmd)
}

func newGC(g *globals) *cobra.Command {
	var opts stage0.GCOptions
	var verbose bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Collect exited and abandoned pods",
		Long: `Mark exited pods, and pods whose preparation was aborted, for collection,
and remove those marked more than --grace-period ago (stage1's cleanup runs
first). Prepared pods never run are collected after --expire-prepared.

The grace period counts from marking, so a pod that exits now is marked by
the next gc and removed by the first gc after its grace period. gc is safe
to run from cron, twice at once, and beside running pods.`,
		Example: `  podctl gc
  podctl gc --grace-period=0s        # remove every exited pod now
  */15 * * * * root podctl gc        # in /etc/cron.d`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			errs, kept, said := 0, 0, 0
			// Buffered: a gc of thousands of pods says a line of each.
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			err := stage0.GC(g.config(), opts, func(e stage0.GCEvent) {
				switch {
				case e.What == "error":
					errs++
					out.Flush()
					fmt.Fprintf(cmd.ErrOrStderr(), "podctl: %s\n", e.Message)
				case e.What == "kept" && !verbose:
					kept++
				default:
					said++
					fmt.Fprintln(out, e.Message)
				}
			})
			out.Flush()
			if err != nil {
				return err
			}
			if said+kept+errs == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no pod to collect")
			}
			if kept > 0 {
				verb := "pods are"
				if kept == 1 {
					verb = "pod is"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d %s within the grace period (--verbose says which and until when)\n", kept, verb)
			}
			if errs > 0 {
				return exitStatus(ExitError)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&opts.GracePeriod, "grace-period", 30*time.Minute, "how long exited pods stay after being marked")
	cmd.Flags().DurationVar(&opts.ExpirePrepared, "expire-prepared", 24*time.Hour, "how long prepared pods may wait to be run")
	cmd.Flags().BoolVar(&opts.MarkOnly, "mark-only", false, "mark pods, remove none")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also name each pod kept for its grace period, and when it goes")
	return userNS(cmd)
}

// forEachPod applies do to each pod, printing the UUID of each one done (do
// returns "" for a pod it has reported itself) and each error, and fails
// if any pod failed.
func forEachPod(cmd *cobra.Command, ids []string, do func(id string) (string, error)) error {
	failed := 0
	for _, id := range ids {
		uuid, err := do(id)
		switch {
		case err != nil:
			fmt.Fprintf(cmd.ErrOrStderr(), "podctl: %v\n", err)
			failed++
		case uuid != "":
			fmt.Fprintln(cmd.OutOrStdout(), uuid)
		}
	}
	if failed > 0 {
		return exitStatus(ExitError)
	}
	return nil
}
