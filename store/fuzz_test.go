package store

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzExtract renders arbitrary bytes as an ACI into a folder, with
// openat2 and with the O_NOFOLLOW walk. Most inputs are refused, which is
// fine; what must never happen is a panic, or a file written outside the
// tree: each run's tree has a sibling folder holding one file, the target
// of the escapes among the seeds, which must be left as it was.
func FuzzExtract(f *testing.F) {
	// "../../outside" from rootfs/ is the sibling folder.
	for _, c := range hostileCases(f, "../../outside") {
		f.Add(buildACI(f, manifestJSON("example.com/hostile"), c.entries...))
	}
	f.Add(simpleACI(f, "example.com/simple"))
	f.Add(countedACI(f, 30))
	f.Add(sparseACI(f, 1<<20, frag{0, "head"}, frag{512 << 10, "middle"}))
	f.Add([]byte{})

	// Small limits keep each run short: a sparse entry may declare any size.
	lim := Limits{MaxSize: 4 << 20, MaxEntries: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, walkOnly := range []bool{false, true} {
			parent := t.TempDir()
			outside := filepath.Join(parent, "outside")
			tree := filepath.Join(parent, "tree")
			for _, d := range []string{outside, tree} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "target"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			// An error is the usual answer to random bytes; only where
			// the archive could write matters.
			_ = extractACI(bytes.NewReader(data), tree, lim, walkOnly)
			if names := dirNames(t, parent); !reflect.DeepEqual(names, []string{"outside", "tree"}) {
				t.Fatalf("walkOnly=%v: the folder around the tree now holds %v", walkOnly, names)
			}
			assertUntouched(t, outside)
		}
	})
}
