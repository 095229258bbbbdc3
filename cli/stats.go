package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"podctl/cgroup"
	"podctl/stage0"
	"podctl/stats"
)

func newStats(g *globals) *cobra.Command {
	var format, app string
	var noStream, full, history bool
	var points int
	opts := stage0.StatsOptions{}
	cmd := &cobra.Command{
		Use:   "stats [UUID...]",
		Short: "Show the CPU, memory, processes and block I/O of running pods",
		Long: `Show what running pods use, from their cgroups: a line for the whole
pod, then one per app. CPU % is the CPU time used over the last interval, in
percent of one core; CPU TIME is the total so far; MEM USAGE is the memory
charged to the pod now (page cache and shared memory included), with the
app's memory limit if it has one; PIDS counts processes and threads; BLOCK
I/O is what was read from and written to block devices. What the host's
cgroups do not give is shown as --.

Without UUIDs, every running pod is shown, and pods started meanwhile join.
The readings refresh every --interval until Ctrl-C; --no-stream prints one,
taken one interval after a first. With --format=json each reading is one
JSON array of pods on a line.

--history prints the usage that the pod's stage1 recorded while it ran (every
2 s, or $PODCTL_STATS_INTERVAL), after it has exited or while it runs,
averaged down to at most --points samples. The pod keeps a bounded number of
samples, whatever its run time: the longer it runs, the longer the stretch
each one stands for. Text shows the pod's series (or --app's); JSON has
every app's.`,
		Example: `  podctl stats
  podctl stats --no-stream --format=json 5b1f2c3d
  podctl stats --history --points 20 5b1f2c3d
  podctl stats --history --format=json 5b1f2c3d | jq '.samples[].pod.memory_bytes'`,
		Args: args(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, a []string) error {
			c := g.config()
			if history {
				if len(a) != 1 {
					return fmt.Errorf("stats --history takes one pod UUID: see %s --help", cmd.CommandPath())
				}
				h, err := stage0.StatsHistory(c, a[0], points)
				if err != nil {
					return err
				}
				if ok, err := printJSON(cmd.OutOrStdout(), format, h); ok {
					return err
				}
				return printHistory(cmd.OutOrStdout(), h, app)
			}
			if app != "" {
				return fmt.Errorf("--app goes with --history: see %s --help", cmd.CommandPath())
			}
			if _, err := printJSON(io.Discard, format, nil); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.Stream = !noStream
			w := cmd.OutOrStdout()
			clear := opts.Stream && isTerminal(w) && (format == "" || format == "text")
			n := 0
			return stage0.Stats(ctx, c, a, opts, func(pods []*stage0.PodStats) error {
				if ok, err := printJSON(w, format, pods); ok {
					return err
				}
				if clear {
					// Home, then clear: a table that stays in place.
					fmt.Fprint(w, "\x1b[H\x1b[2J")
				} else if n > 0 {
					fmt.Fprintln(w)
				}
				n++
				return printStats(w, pods, full)
			})
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print one reading and exit")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "time between readings, over which CPU % is measured")
	addFormat(cmd, &format)
	cmd.Flags().BoolVar(&full, "full", false, "show whole UUIDs")
	cmd.Flags().BoolVar(&history, "history", false, "print the usage the pod recorded while it ran")
	cmd.Flags().IntVar(&points, "points", 240, "with --history, the most samples to print (recorded ones are averaged down)")
	cmd.Flags().StringVar(&app, "app", "", "with --history, print this app's series rather than the pod's")
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

const statsHeader = "CPU %\tCPU TIME\tMEM USAGE / LIMIT\tPIDS\tBLOCK I/O"

func printStats(w io.Writer, pods []*stage0.PodStats, full bool) error {
	out := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "UUID\tAPP\t"+statsHeader)
	for _, p := range pods {
		id := p.UUID
		if !full {
			id = id[:8]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", id, "(pod)", usageCells(p.Pod))
		for _, a := range p.Apps {
			fmt.Fprintf(tw, "\t%s\t%s\n", a.Name, usageCells(a.Usage))
		}
	}
	tw.Flush()
	return out.Flush()
}

func printHistory(w io.Writer, h *stage0.PodHistory, app string) error {
	out := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSPAN\t"+statsHeader)
	found := app == ""
	for _, s := range h.Samples {
		u := s.Pod
		if app != "" {
			var ok bool
			if u, ok = appUsage(s, app); !ok {
				continue
			}
			found = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", absTime(&s.Time), s.Span.Round(time.Millisecond), usageCells(u))
	}
	tw.Flush()
	if err := out.Flush(); err != nil {
		return err
	}
	if !found && len(h.Samples) > 0 {
		return fmt.Errorf("pod %s recorded no usage of an app called %s", h.UUID, app)
	}
	return nil
}

func appUsage(s stats.Sample, app string) (stats.Usage, bool) {
	for _, a := range s.Apps {
		if a.Name == app {
			return a.Usage, true
		}
	}
	return stats.Usage{}, false
}

// usageCells formats a usage as the columns of statsHeader; what is
// unknown shows as --.
func usageCells(u stats.Usage) string {
	cpu, cpuTime, mem, limit, pids, io := "--", "--", "--", "--", "--", "--"
	if u.CPUPercent != nil {
		cpu = fmt.Sprintf("%.2f%%", *u.CPUPercent)
	}
	if u.Has&cgroup.HasCPU != 0 {
		cpuTime = time.Duration(u.CPUNanos).Round(time.Millisecond).String()
	}
	if u.Has&cgroup.HasMemory != 0 {
		mem = binarySize(u.MemoryBytes)
	}
	if u.Has&cgroup.HasMemoryLimit != 0 {
		limit = binarySize(u.MemoryLimitBytes)
	}
	if u.Has&cgroup.HasPids != 0 {
		pids = fmt.Sprint(u.Pids)
	}
	if u.Has&cgroup.HasIO != 0 {
		io = decimalSize(u.ReadBytes) + " / " + decimalSize(u.WriteBytes)
	}
	return fmt.Sprintf("%s\t%s\t%s / %s\t%s\t%s", cpu, cpuTime, mem, limit, pids, io)
}

// binarySize shows a memory size in powers of 1024, as podman does.
func binarySize(n uint64) string { return scaledSize(n, 1024, "B", "KiB", "MiB", "GiB", "TiB") }

// decimalSize shows a byte count in powers of 1000, as podman shows I/O.
func decimalSize(n uint64) string { return scaledSize(n, 1000, "B", "kB", "MB", "GB", "TB") }

func scaledSize(n uint64, base float64, units ...string) string {
	v := float64(n)
	i := 0
	for v >= base && i < len(units)-1 {
		v /= base
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.4g%s", v, units[i])
}
