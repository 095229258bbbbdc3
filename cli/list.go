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

	"podctl/network"
	"podctl/stage0"
)

func newList(g *globals) *cobra.Command {
	var format string
	var full, perApp, noLegend, count bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pods",
		Long: `List every pod not yet removed, one line per pod: its apps, their images
and exit codes joined with commas (web,check). --apps prints a line per app
instead, the lines after the first of a pod leaving its UUID, name, state
and labels blank.

A cell never holds a blank, but CREATED and STARTED ("2 minutes ago") and a
label value with one; an empty cell is "-". So awk can pick the columns
from UUID to EXIT. With --full, times are RFC 3339 (2026-12-06T15:31:53.438Z)
and the image IDs are added, whole; --format=json gives everything.

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
  source=PATH        made by podctl apply from the pod file PATH, or from
                     a pod file in the folder PATH

A TIME is 2024-05-01T10:00:00Z (RFC 3339), 2024-05-01 10:00:00 or
2024-05-01 (local time), or a duration meaning that long ago (90m).

--count prints the number of pods in each state instead (of the pods the
filters select): in text, the states that have pods and the total; in
JSON, {"total": N, "states": {STATE: N, ...}} with every state.`,
		Example: `  podctl list
  podctl list --apps
  podctl list --no-legend | awk '{print $1}'                  # each pod's short UUID, once
  podctl list --no-legend --filter state=exited | awk '$6 != "success" {print $1}'
  podctl list --full --no-legend
  podctl list --filter state=running,state=prepared --filter label=tier=web,label=env=prod
  podctl list --filter name='build-*',since=1h --format=json | jq -r '.[].uuid'
  podctl list --count
  podctl list --format=json | jq '.[] | select(.state == "exited-garbage") | .uuid'`,
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
			return printList(cmd, pods, full, perApp, noLegend)
		},
	}
	addFormat(cmd, &format)
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "show only the pods that match: state=, label=KEY[=VALUE], name=, image=, before=, since=, source= (repeatable, or comma-separated)")
	cmd.Flags().BoolVar(&count, "count", false, "print the number of pods in each state instead")
	cmd.Flags().BoolVar(&perApp, "apps", false, "print a line per app instead of a line per pod")
	cmd.Flags().BoolVar(&full, "full", false, "show whole UUIDs, image IDs and RFC 3339 times")
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

// listRow is one line of list's table.
type listRow struct {
	uuid, name, app, imageName, imageID, state, result, exit, created, started, networks, labels string
}

// networksText is the NETWORKS cell: each network the pod joined and its
// address, NAME:IP, comma-separated.
func networksText(atts []network.Attachment) string {
	var parts []string
	for _, a := range atts {
		ip, _, _ := strings.Cut(a.Address, "/")
		parts = append(parts, a.Network+":"+ip)
	}
	return dash(strings.Join(parts, ","))
}

// podRows makes a pod's lines of the table: one, whose app, image and exit
// cells join the apps' with commas, or with perApp one per app, the lines
// after the first leaving the pod's own cells blank. No cell has a blank
// in it but the relative times (and a label value that has one), and an
// empty cell is "-".
func podRows(p *stage0.PodInfo, full, perApp bool, now time.Time) []listRow {
	when := func(t *time.Time) string {
		if full {
			return absTime(t)
		}
		return ago(t, now)
	}
	r := listRow{uuid: p.UUID, name: dash(p.Name), state: p.State.String(), result: "-",
		created: when(p.CreatedAt), started: when(p.StartedAt), networks: networksText(p.Networks), labels: labelsText(p.Labels)}
	if !full {
		r.uuid = r.uuid[:min(len(r.uuid), 8)]
	}
	if p.Result != nil {
		r.result = p.Result.Result
	}
	cells := func(a stage0.AppInfo) (app, imageName, imageID, exit string) {
		exit = "-"
		if a.ExitCode != nil {
			exit = strconv.Itoa(*a.ExitCode)
		}
		return dash(a.Name), dash(a.ImageName), dash(shortID(a.ImageID, full)), exit
	}
	if len(p.Apps) == 0 {
		r.app, r.imageName, r.imageID, r.exit = "-", "-", "-", "-"
		return []listRow{r}
	}
	if !perApp {
		var apps, names, ids, exits []string
		for _, a := range p.Apps {
			app, name, id, exit := cells(a)
			apps, names, ids, exits = append(apps, app), append(names, name), append(ids, id), append(exits, exit)
		}
		r.app, r.imageName, r.imageID, r.exit = strings.Join(apps, ","), strings.Join(names, ","), strings.Join(ids, ","), strings.Join(exits, ",")
		return []listRow{r}
	}
	rows := make([]listRow, len(p.Apps))
	for i, a := range p.Apps {
		if i > 0 {
			r = listRow{}
		}
		r.app, r.imageName, r.imageID, r.exit = cells(a)
		rows[i] = r
	}
	return rows
}

// printList prints the table of pods, then the problems met reading them
// on stderr. Its error is the table's write's (a closed pipe).
func printList(cmd *cobra.Command, pods []*stage0.PodInfo, full, perApp, noLegend bool) error {
	now := time.Now()
	app, image, id := "APPS", "IMAGES", "IMAGE-IDS"
	if perApp {
		app, image, id = "APP", "IMAGE", "IMAGE-ID"
	}
	src := sourceColumnsOf(pods)
	lines := make([]string, 0, len(pods)+1)
	if !noLegend {
		if full {
			lines = append(lines, "UUID\tNAME\t"+app+"\t"+image+"\t"+id+"\tSTATE\tRESULT\tEXIT\tCREATED\tSTARTED\tNETWORKS\tLABELS"+src.header())
		} else {
			lines = append(lines, "UUID\tNAME\t"+app+"\t"+image+"\tSTATE\tRESULT\tEXIT\tCREATED\tSTARTED\tNETWORKS\tLABELS"+src.header())
		}
	}
	for _, p := range pods {
		for i, r := range podRows(p, full, perApp, now) {
			cells := []string{r.uuid, r.name, r.app, r.imageName, r.imageID, r.state, r.result, r.exit, r.created, r.started, r.networks, r.labels}
			if !full {
				cells = append(cells[:4], cells[5:]...)
			}
			lines = append(lines, strings.Join(cells, "\t")+src.cells(p, i))
		}
	}
	err := writeTable(cmd.OutOrStdout(), lines)
	for _, p := range pods {
		for _, prob := range p.Problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "podctl: pod %s: %s\n", p.UUID, prob)
		}
	}
	if err != nil {
		return fmt.Errorf("printing the list: %w", err)
	}
	return nil
}
