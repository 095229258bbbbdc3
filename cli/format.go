package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"podctl/internal/timefmt"
)

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

// ago says how long ago t was, in the one form tables show times in.
func ago(t *time.Time, now time.Time) string { return timefmt.Relative(t, now) }

// absTime writes t as key=value lines and messages show times: RFC 3339
// to the millisecond with its zone, or "-" if unknown.
func absTime(t *time.Time) string { return timefmt.TextOrDash(t) }

// shortIDHex is how many hex digits of an image ID text output shows,
// after "sha512-", unless --full is given. JSON always has whole IDs.
const shortIDHex = 12

// shortID shortens an image ID for text output: "sha512-" and 12 hex
// digits, or the whole ID with full.
func shortID(id string, full bool) string {
	alg, hex, ok := strings.Cut(id, "-")
	if full || !ok || len(hex) <= shortIDHex {
		return id
	}
	return alg + "-" + hex[:shortIDHex]
}
