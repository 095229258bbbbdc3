package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// timeLayout is how text output shows an absolute time.
const timeLayout = "2006-01-02 15:04:05.000 -0700 MST"

// addFormat adds --format to a read command.
func addFormat(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "format", "", "output format: json or json-pretty (default: text)")
}

// printJSON prints v in the chosen JSON format. It returns false when
// format asks for text.
func printJSON(w io.Writer, format string, v any) (bool, error) {
	var b []byte
	var err error
	switch format {
	case "", "text":
		return false, nil
	case "json":
		b, err = json.Marshal(v)
	case "json-pretty":
		b, err = json.MarshalIndent(v, "", "  ")
	default:
		return true, fmt.Errorf("unknown --format %q: use json, json-pretty or text", format)
	}
	if err != nil {
		return true, err
	}
	_, err = fmt.Fprintln(w, string(b))
	return true, err
}

// ago says how long ago t was, as a person would.
func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return plural(int(d/time.Second), "second") + " ago"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func absTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(timeLayout)
}
