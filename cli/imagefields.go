package cli

import (
	"fmt"
	"strings"
	"time"

	"podctl/store"
)

// imageField is one column of image list: --fields names it.
type imageField struct {
	name, header string
	value        func(img *store.Image, c *imageCtx) string
}

// imageCtx is what a column may need besides the image.
type imageCtx struct {
	full bool
	now  time.Time
	// latest holds the IDs of the images a name without a version picks:
	// of each name, the one imported last.
	latest map[string]bool
}

// imageFields are the columns, rkt's field names first.
var imageFields = []imageField{
	{"id", "ID", func(img *store.Image, c *imageCtx) string { return shortID(img.ID, c.full) }},
	{"name", "NAME", nil}, // one line per name: printImages fills it in
	{"importtime", "IMPORTED", func(img *store.Image, c *imageCtx) string { return ago(&img.ImportTime, c.now) }},
	{"lastused", "LAST USED", func(img *store.Image, c *imageCtx) string { return agoOrNever(&img.LastUsed, c.now) }},
	{"size", "SIZE", func(img *store.Image, c *imageCtx) string { return humanSize(img.Size) }},
	{"latest", "LATEST", func(img *store.Image, c *imageCtx) string { return fmt.Sprint(c.latest[img.ID]) }},
	{"format", "FORMAT", func(img *store.Image, c *imageCtx) string { return img.Format }},
	{"reference", "REFERENCE", func(img *store.Image, c *imageCtx) string {
		if img.Reference == "" {
			return "-"
		}
		return img.Reference
	}},
}

// defaultImageFields are the columns without --fields.
var defaultImageFields = []string{"id", "name", "format", "size", "importtime", "lastused", "reference"}

// parseImageFields reads --fields into columns, in the order given.
func parseImageFields(names []string) ([]imageField, error) {
	var out []imageField
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		found := false
		for _, f := range imageFields {
			if f.name == n {
				out, found = append(out, f), true
			}
		}
		if !found {
			var known []string
			for _, f := range imageFields {
				known = append(known, f.name)
			}
			return nil, fmt.Errorf("--fields: unknown field %q: choose among %s", n, strings.Join(known, ","))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--fields is empty: name at least one of id,name,importtime,lastused,size,latest")
	}
	return out, nil
}

// latestImages is the set of images that are, of their name, the one
// imported last.
func latestImages(imgs []store.Image) map[string]bool {
	newest := map[string]*store.Image{}
	for i := range imgs {
		img := &imgs[i]
		if o := newest[img.Name]; o == nil || img.ImportTime.After(o.ImportTime) {
			newest[img.Name] = img
		}
	}
	out := map[string]bool{}
	for _, img := range newest {
		out[img.ID] = true
	}
	return out
}

// imageRows are the table lines of img, one per name (its own and its
// tags), each cell in fields' order.
func imageRows(img *store.Image, fields []imageField, c *imageCtx) [][]string {
	name := img.Name
	if v := img.Labels["version"]; v != "" {
		name += ":" + v
	}
	var rows [][]string
	for _, n := range append([]string{name}, img.Tags...) {
		var row []string
		for _, f := range fields {
			if f.value == nil {
				row = append(row, n)
			} else {
				row = append(row, f.value(img, c))
			}
		}
		rows = append(rows, row)
		if !hasField(fields, "name") {
			break // the lines would be the same
		}
	}
	return rows
}

func hasField(fields []imageField, name string) bool {
	for _, f := range fields {
		if f.name == name {
			return true
		}
	}
	return false
}
