package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"podctl/lifecycle"
	"podctl/stage0"
)

func newStatus(g *globals) *cobra.Command {
	var format, wait, waitReady, uuidFile string
	cmd := &cobra.Command{
		Use:   "status UUID | --uuid-file FILE",
		Short: "Show the state of a pod",
		Long: `Show a pod's state as key=value lines (or JSON with --format):
state, created, started, gc-marked, pid (while running), exited, and
app-NAME=CODE for each app that has ended, then a history=TIME STATE line
for each state the pod went through. Times are RFC 3339 to the
millisecond with the zone (2026-12-06T15:31:53.438Z); states are one word
(exited-garbage).

--wait waits for the pod to exit, --wait-ready for its apps to have started;
each takes an optional limit (--wait=30s).`,
		Example: `  podctl status 5b1f2c3d
  podctl status --wait=1m --format=json 5b1f2c3d`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			args, err := podArgs(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			c := g.config()
			if waitReady != "" {
				if err := waitFor(c, args[0], waitReady, func(ctx context.Context, p *lifecycle.Pod) error { return p.WaitReady(ctx) }); err != nil {
					return err
				}
			}
			if wait != "" {
				err := waitFor(c, args[0], wait, func(ctx context.Context, p *lifecycle.Pod) error {
					done, err := p.WaitFinished(ctx)
					if err == nil {
						done.Close()
					}
					return err
				})
				if err != nil {
					return err
				}
			}
			pi, err := stage0.Status(c, args[0])
			if err != nil {
				return err
			}
			if ok, err := printJSON(cmd.OutOrStdout(), format, pi); ok {
				return err
			}
			printStatus(cmd, pi)
			return nil
		},
	}
	addFormat(cmd, &format)
	cmd.Flags().StringVar(&wait, "wait", "", "wait for the pod to exit, at most the given time (true: no limit)")
	cmd.Flags().StringVar(&waitReady, "wait-ready", "", "wait for the pod to be ready, at most the given time (true: no limit)")
	cmd.Flags().Lookup("wait").NoOptDefVal = "true"
	cmd.Flags().Lookup("wait-ready").NoOptDefVal = "true"
	addUUIDFile(cmd, &uuidFile)
	return cmd
}

func waitFor(c stage0.Config, id, limit string, wait func(context.Context, *lifecycle.Pod) error) error {
	ctx := context.Background()
	if limit != "true" {
		d, err := time.ParseDuration(limit)
		if err != nil {
			return fmt.Errorf("wait limit %q is not a duration such as 30s or 5m", limit)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	p, err := c.OpenPod(id)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := wait(ctx, p); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pod %s: gave up waiting after %s", p.UUID, limit)
		}
		return err
	}
	return nil
}

func printStatus(cmd *cobra.Command, pi *stage0.PodInfo) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "state=%s\n", pi.State)
	printIdentity(w, pi)
	printSource(w, pi)
	fmt.Fprintf(w, "created=%s\n", absTime(pi.CreatedAt))
	if pi.StartedAt != nil {
		fmt.Fprintf(w, "started=%s\n", absTime(pi.StartedAt))
	}
	if pi.GCMarkedAt != nil {
		fmt.Fprintf(w, "gc-marked=%s\n", absTime(pi.GCMarkedAt))
	}
	if pi.Pid != 0 {
		fmt.Fprintf(w, "pid=%d\n", pi.Pid)
	}
	if u := pi.PrivateUsers; u != nil {
		fmt.Fprintf(w, "private-users=%d:%d gid=%d ownership=%s\n", u.UID, u.Count, u.GID, u.Ownership)
	}
	// A line a network: network-NAME=INTERFACE ADDRESS [via GATEWAY].
	for _, n := range pi.Networks {
		fmt.Fprintf(w, "network-%s=%s %s", n.Network, n.Interface, n.Address)
		if n.Gateway != "" {
			fmt.Fprintf(w, " via %s", n.Gateway)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "exited=%t\n", pi.State.Lifecycle.IsAfterRun())
	if pi.Result != nil {
		fmt.Fprintf(w, "result=%s\n", pi.Result.Result)
		fmt.Fprintf(w, "message=%s\n", pi.Result.Message)
	}
	for _, a := range pi.Apps {
		if a.ExitCode != nil {
			fmt.Fprintf(w, "app-%s=%d\n", a.Name, *a.ExitCode)
		}
		if a.Reason != "" {
			fmt.Fprintf(w, "app-%s-reason=%s\n", a.Name, a.Reason)
		}
		if a.RestartCount > 0 {
			fmt.Fprintf(w, "app-%s-restarts=%d\n", a.Name, a.RestartCount)
		}
	}
	for _, h := range pi.History {
		fmt.Fprintf(w, "history=%s %s\n", absTime(&h.Time), h.State)
	}
	for _, p := range pi.Problems {
		fmt.Fprintf(cmd.ErrOrStderr(), "podctl: %s\n", p)
	}
}
