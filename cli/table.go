package cli

import (
	"bufio"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// writeTable writes lines, whose cells are separated by tabs, as
// tabwriter.NewWriter(w, 0, 8, 2, ' ', 0) aligns them: each cell but a
// line's last padded with blanks to its column's widest cell and two
// more. When every line has as many cells and no cell holds a byte the
// tabwriter reads as more than text (a newline, a vertical tab, a form
// feed, its escape byte), the columns are the whole table's and the
// widths are worked out here in one pass, without the tabwriter's
// cell-by-cell buffering: a list of ten thousand pods spent a tenth of
// its time there. Any other table goes through the tabwriter.
func writeTable(w io.Writer, lines []string) error {
	cols, ok := plainTable(lines)
	if !ok {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, l := range lines {
			if _, err := io.WriteString(tw, l+"\n"); err != nil {
				return err
			}
		}
		return tw.Flush()
	}
	widths := make([]int, cols)
	for _, l := range lines {
		for j := 0; j < cols; j++ {
			cell, rest, _ := strings.Cut(l, "\t")
			widths[j] = max(widths[j], utf8.RuneCountInString(cell)+tablePadding)
			l = rest
		}
	}
	out := bufio.NewWriter(w)
	for _, l := range lines {
		for j := 0; j < cols; j++ {
			cell, rest, _ := strings.Cut(l, "\t")
			out.WriteString(cell)
			for n := utf8.RuneCountInString(cell); n < widths[j]; n++ {
				out.WriteByte(' ')
			}
			l = rest
		}
		out.WriteString(l)
		out.WriteByte('\n')
	}
	return out.Flush()
}

// tablePadding is the blanks after a column's widest cell.
const tablePadding = 2

// plainTable reports whether every line has the same number of tabs
// (returned) and no byte the tabwriter treats as other than text.
func plainTable(lines []string) (int, bool) {
	cols := -1
	for _, l := range lines {
		if strings.ContainsAny(l, "\n\v\f") || strings.IndexByte(l, tabwriter.Escape) >= 0 {
			return 0, false
		}
		n := strings.Count(l, "\t")
		if cols >= 0 && n != cols {
			return 0, false
		}
		cols = n
	}
	return max(cols, 0), true
}
