package kit

import "testing"

// FuzzParseAhead: an ahead message is read whole or not at all: every
// app once, and a descriptor for each of its trees.
func FuzzParseAhead(f *testing.F) {
	f.Add([]byte(`[{"app":"a","root":true,"dev":true},{"app":"b","dev":true}]`), 3)
	f.Add([]byte(`[]`), 0)
	f.Add([]byte(`[{"app":"a","root":true},{"app":"a","dev":true}]`), 2)
	f.Add([]byte(`null`), 1)
	f.Fuzz(func(t *testing.T, msg []byte, nfds int) {
		entries, err := parseAhead(msg, nfds)
		if err != nil {
			return
		}
		seen, trees := map[string]bool{}, 0
		for _, e := range entries {
			if seen[e.App] {
				t.Fatalf("app %q read twice", e.App)
			}
			seen[e.App] = true
			trees += btoi(e.Root) + btoi(e.Dev)
		}
		if trees != nfds {
			t.Fatalf("%d trees read for %d descriptors", trees, nfds)
		}
	})
}
