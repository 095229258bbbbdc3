package cli

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"podctl/stage0"
)

func newList(g *globals) *cobra.Command {
	var format string
	var full, noLegend, count bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pods",
		Long: `List every pod not yet removed, one line per app. Lines after the first
of a pod leave its UUID, name, state and labels blank.

--filter KEY=VALUE selects pods; several may be given, repeated or
separated by commas. A pod matches a key if it matches any of the values
given for that key (all of them for label), and must match every key
given:

  state=STATE        in that state (running, exited, exited-garbage, ...)
  label=KEY[=VALUE]  with label KEY (set to VALUE)
  name=PATTERN       named so; *, ? and [...] match as in the shell;
                     name= selects pods without a name
  image=IMAGE        an app of that image: name, name:version, or image ID
                     (sha512-...) or a prefix of one
  before=POD|TIME    created before that pod (UUID, prefix or name) or time
  since=POD|TIME     created after it

A TIME is 2024-05-01T10:00:00Z (RFC 3339), 2024-05-01 10:00:00 or
2024-05-01 (local time), or a duration meaning that long ago (90m).

--count prints the number of pods in each state instead (of the pods the
filters select): in text, the states that have pods and the total; in
JSON, {"total": N, "states": {STATE: N, ...}} with every state.`,
		Example: `  podctl list
  podctl list --full --no-legend
  podctl list --filter state=running,state=prepared --filter label=tier=web,label=env=prod
  podctl list --filter name='build-*',since=1h --format=json | jq -r '.[].uuid'
  podctl list --count
  podctl list --format=json | jq '.[] | select(.state == "exited") | .uuid'`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.config()
			filter, err := stage0.ParsePodFilter(c, filters)
			if err != nil {
				return err
			}
			pods, err := stage0.ListMatching(c, filter)
			if err != nil {
				return err
			}
			if pods == nil {
				pods = []*stage0.PodInfo{}
			}
			if count {
				counts := stage0.CountPods(pods)
				if ok, err := printJSON(cmd.OutOrStdout(), format, counts); ok {
					return err
				}
				printCounts(cmd, counts, noLegend)
				return nil
			}
			if ok, err := printJSON(cmd.OutOrStdout(), format, pods); ok {
				return err
			}
			printList(cmd, pods, full, noLegend)
			return nil
		},
	}
	addFormat(cmd, &format)
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "show only the pods that match: state=, label=KEY[=VALUE], name=, image=, before=, since= (repeatable, or comma-separated)")
	cmd.Flags().BoolVar(&count, "count", false, "print the number of pods in each state instead")
	cmd.Flags().BoolVar(&full, "full", false, "show whole UUIDs and image IDs, and absolute times")
	cmd.Flags().BoolVar(&noLegend, "no-legend", false, "leave out the header line")
	return cmd
}

func printCounts(cmd *cobra.Command, pc *stage0.PodCounts, noLegend bool) {
	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	if !noLegend {
		fmt.Fprintln(tw, "STATE\tPODS")
	}
	for _, s := range pc.Ordered() {
		fmt.Fprintf(tw, "%s\t%d\n", s, pc.States[s])
	}
	fmt.Fprintf(tw, "total\t%d\n", pc.Total)
	tw.Flush()
}

// labelsText shows labels as KEY=VALUE,... in key order, or "-".
func labelsText(labels map[string]string) string {
	if len(labels) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + labels[k]
	}
	return strings.Join(keys, ",")
}

// printIdentity prints a pod's name, labels and annotations as status's
// key=value lines: name=NAME, label-KEY=VALUE, annotation-KEY=VALUE. A
// value that is not one plain line is quoted as a Go string.
func printIdentity(w io.Writer, pi *stage0.PodInfo) {
	if pi.Name != "" {
		fmt.Fprintf(w, "name=%s\n", pi.Name)
	}
	for _, kv := range []struct {
		prefix string
		m      map[string]string
	}{{"label-", pi.Labels}, {"annotation-", pi.Annotations}} {
		keys := make([]string, 0, len(kv.m))
		for k := range kv.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := kv.m[k]
			if strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
				v = strconv.Quote(v)
			}
			fmt.Fprintf(w, "%s%s=%s\n", kv.prefix, k, v)
		}
	}
}

func printList(cmd *cobra.Command, pods []*stage0.PodInfo, full, noLegend bool) {
	now := time.Now()
	// Buffered: the tabwriter writes each cell on its own.
	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	if !noLegend {
		if full {
			fmt.Fprintln(tw, "UUID\tNAME\tAPP\tIMAGE NAME\tIMAGE ID\tSTATE\tRESULT\tEXIT\tCREATED\tSTARTED\tLABELS")
		} else {
			fmt.Fprintln(tw, "UUID\tNAME\tAPP\tIMAGE NAME\tSTATE\tRESULT\tEXIT\tCREATED\tSTARTED\tLABELS")
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
		name := p.Name
		if name == "" {
			name = "-"
		}
		for i, a := range apps {
			result := "-"
			if p.Result != nil {
				result = p.Result.Result
			}
			uuid, name, state, created, started, labels := id, name, p.State, when(p.CreatedAt), when(p.StartedAt), labelsText(p.Labels)
			if i > 0 {
				uuid, name, state, result, created, started, labels = "", "", "", "", "", "", ""
			}
			code := "-"
			if a.ExitCode != nil {
				code = strconv.Itoa(*a.ExitCode)
			}
			if full {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uuid, name, a.Name, a.ImageName, a.ImageID, state, result, code, created, started, labels)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uuid, name, a.Name, a.ImageName, state, result, code, created, started, labels)
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
