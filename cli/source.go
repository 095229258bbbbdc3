package cli

import (
	"fmt"
	"io"

	"podctl/stage0"
)

// sourceColumns says whether list shows the SOURCE and MATCH columns: only
// when a pod listed was made from a pod file (podctl apply), so that the
// table of a host without pod files keeps its columns.
type sourceColumns bool

func sourceColumnsOf(pods []*stage0.PodInfo) sourceColumns {
	for _, p := range pods {
		if p.Source != nil {
			return true
		}
	}
	return false
}

func (s sourceColumns) header() string {
	if !s {
		return ""
	}
	return "\tSOURCE\tMATCH"
}

// cells are a pod's SOURCE and MATCH cells on its line i (the first of
// its lines, with --apps).
func (s sourceColumns) cells(p *stage0.PodInfo, i int) string {
	switch {
	case !bool(s):
		return ""
	case i > 0:
		return "\t\t"
	case p.Source == nil:
		return "\t-\t-"
	}
	return "\t" + p.Source.File + "\t" + p.Source.Match
}

// printSource prints, as status's key=value lines, the pod file a pod was
// made from and how the file is now.
func printSource(w io.Writer, pi *stage0.PodInfo) {
	if pi.Source == nil {
		return
	}
	fmt.Fprintf(w, "source=%s\nsource-digest=%s\nsource-match=%s\n", pi.Source.File, pi.Source.Digest, pi.Source.Match)
}
