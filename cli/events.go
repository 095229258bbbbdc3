package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"podctl/events"
	"podctl/stage0"
)

func newEvents(g *globals) *cobra.Command {
	var opts stage0.EventsOptions
	var format string
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List pod events, and follow new ones",
		Long: `List what happened to pods, oldest first, one event a line: the time,
the type, the pod's short UUID, its name, the app, the exit code and a
message ("-" where there is none). With --format=json, one JSON object a
line. --follow goes on with new events as they happen, until interrupted
(or until --until has passed).

Types: ` + strings.Join(events.Types, ", ") + `.

The events are kept in the data directory (events.log and events.log.1,
about 2 MiB at most): the oldest go first.

--since and --until take a duration before now (10m, 1h30m) or an RFC 3339
time (2026-01-02T15:04:05Z). --filter takes KEY=VALUE pairs separated by
commas, and can be repeated: type=TYPE, pod=UUID (or a prefix), name=NAME.
Values of one key are alternatives; different keys must all match.`,
		Example: `  podctl events --since 10m
  podctl events --filter type=exited --filter name=web --format=json
  podctl events --follow --filter type=started,type=exited
  podctl events --since 2026-01-02T15:00:00Z --until 2026-01-02T16:00:00Z`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, a []string) error {
			if format != "" && format != "text" && format != "json" && format != "json-pretty" {
				return fmt.Errorf("unknown --format %q: use json, json-pretty or text", format)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Buffered, and flushed after each event when following, so a
			// long listing costs few writes and a follower sees each event
			// at once.
			out := bufio.NewWriter(cmd.OutOrStdout())
			var werr error
			err := stage0.Events(ctx, g.config(), opts, func(e events.Event) {
				if werr == nil {
					werr = printEvent(out, e, format)
				}
				if werr == nil && opts.Follow {
					werr = out.Flush()
				}
			})
			if ferr := out.Flush(); werr == nil {
				werr = ferr
			}
			if err != nil {
				return err
			}
			return werr
		},
	}
	cmd.Flags().StringVar(&opts.Since, "since", "", "show events from this time on (duration before now, or RFC 3339)")
	cmd.Flags().StringVar(&opts.Until, "until", "", "show events up to this time (duration before now, or RFC 3339)")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().StringArrayVar(&opts.Filters, "filter", nil, "select events: type=TYPE, pod=UUID, name=NAME, comma-separated; repeatable")
	cmd.Flags().StringVar(&format, "format", "", "output format: json (one object a line), json-pretty or text (default)")
	return cmd
}

func printEvent(w io.Writer, e events.Event, format string) error {
	switch format {
	case "json":
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "json-pretty":
		b, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	id := e.Pod
	if len(id) > 8 {
		id = id[:8]
	}
	code := "-"
	if e.ExitCode != nil {
		code = strconv.Itoa(*e.ExitCode)
	}
	line := fmt.Sprintf("%s %-9s %s %s %s %s", absTime(&e.Time), e.Type, id, dash(e.Name), dash(e.App), code)
	if e.Message != "" {
		line += " " + e.Message
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
