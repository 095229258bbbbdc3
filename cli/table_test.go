package cli

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
)

// tabwriterTable is what writeTable must print: the tabwriter's own
// alignment of lines.
func tabwriterTable(lines []string) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, l := range lines {
		tw.Write([]byte(l + "\n"))
	}
	tw.Flush()
	return b.String()
}

func TestWriteTableIsTabwriters(t *testing.T) {
	for name, lines := range map[string][]string{
		"list":          {"UUID\tNAME\tSTATE\tLABELS", "0a1b2c3d\t-\texited\t-", "0a1b2c3e\tweb-1\trunning\ttier=front end"},
		"empty cells":   {"A\tB\tC", "\t\tx", "x\t\t"},
		"unicode":       {"NAME\tX", "Ünïcødé\ty", "\xff\xfe\tz"},
		"ragged":        {"A\tB\tC", "a\tb", "a\tb\tc\td"},
		"tab in value":  {"A\tB", "a\tb\tc"},
		"escape":        {"A\tB", "a\xffb\xff\tc"},
		"newline":       {"A\tB", "a\nb\tc"},
		"vertical tab":  {"A\tB", "a\vb\tc"},
		"one column":    {"A", "bb", ""},
		"no lines":      nil,
		"trailing tabs": {"A\tB\t", "a\tb\t"},
	} {
		var b bytes.Buffer
		if err := writeTable(&b, lines); err != nil {
			t.Fatal(err)
		}
		if want := tabwriterTable(lines); b.String() != want {
			t.Errorf("%s: got\n%s\nwant\n%s", name, strings.ReplaceAll(b.String(), " ", "."), strings.ReplaceAll(want, " ", "."))
		}
	}
}

// FuzzWriteTable checks writeTable against the tabwriter on any lines.
func FuzzWriteTable(f *testing.F) {
	f.Add("A\tB\tC\na\tbb\tc\n\tx\ty")
	f.Add("a\xffb\tc\nd\te")
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		var b bytes.Buffer
		if err := writeTable(&b, lines); err != nil {
			t.Fatal(err)
		}
		if want := tabwriterTable(lines); b.String() != want {
			t.Fatalf("lines %q: got %q, want %q", lines, b.String(), want)
		}
	})
}
