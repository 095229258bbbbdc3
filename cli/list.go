package cli

import (
	"bufio"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"podctl/stage0"
)

func newList(g *globals) *cobra.Command {
	var format string
	var full, noLegend bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pods",
		Long: `List every pod not yet removed, one line per app. Lines after the first
of a pod leave its UUID and state blank.`,
		Example: `  podctl list
  podctl list --full --no-legend
  podctl list --format=json | jq '.[] | select(.state == "exited") | .uuid'`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			pods, err := stage0.List(g.config())
			if err != nil {
				return err
			}
			if pods == nil {
				pods = []*stage0.PodInfo{}
			}
			if ok, err := printJSON(cmd.OutOrStdout(), format, pods); ok {
				return err
			}
			printList(cmd, pods, full, noLegend)
			return nil
		},
	}
	addFormat(cmd, &format)
	cmd.Flags().BoolVar(&full, "full", false, "show whole UUIDs and image IDs, and absolute times")
	cmd.Flags().BoolVar(&noLegend, "no-legend", false, "leave out the header line")
	return cmd
}

func printList(cmd *cobra.Command, pods []*stage0.PodInfo, full, noLegend bool) {
	now := time.Now()
	// Buffered: the tabwriter writes each cell on its own.
	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	if !noLegend {
		if full {
			fmt.Fprintln(tw, "UUID\tAPP\tIMAGE NAME\tIMAGE ID\tSTATE\tEXIT\tCREATED\tSTARTED")
		} else {
			fmt.Fprintln(tw, "UUID\tAPP\tIMAGE NAME\tSTATE\tEXIT\tCREATED\tSTARTED")
		}
	}
	when := func(t *time.Time) string {
		if full {
			return absTime(t)
		}
		return ago(t, now)
	}
	for _, p := range pods {
		id := p.UUID
		if !full {
			id = id[:8]
		}
		apps := p.Apps
		if len(apps) == 0 {
			apps = []stage0.AppInfo{{Name: "-", ImageName: "-", ImageID: "-"}}
		}
		for i, a := range apps {
			uuid, state, created, started := id, p.State, when(p.CreatedAt), when(p.StartedAt)
			if i > 0 {
				uuid, state, created, started = "", "", "", ""
			}
			code := "-"
			if a.ExitCode != nil {
				code = strconv.Itoa(*a.ExitCode)
			}
			if full {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uuid, a.Name, a.ImageName, a.ImageID, state, code, created, started)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uuid, a.Name, a.ImageName, state, code, created, started)
			}
		}
	}
	tw.Flush()
	for _, p := range pods {
		for _, prob := range p.Problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "podctl: pod %s: %s\n", p.UUID, prob)
		}
	}
}
