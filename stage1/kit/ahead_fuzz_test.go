package kit

import "testing"

// FuzzParseAhead: an ahead message is read whole or not at all: every
// app and every binary once, and a descriptor for each of its trees and
// binaries.
func FuzzParseAhead(f *testing.F) {
	f.Add([]byte(`{"apps":[{"app":"a","root":true,"dev":true},{"app":"b","dev":true}],"binaries":["podctl","podctl-exec"]}`), 5)
	f.Add([]byte(`{"apps":[{"app":"a","ns":true},{"app":"b","root":true,"dev":true}]}`), 3)
	f.Add([]byte(`{"apps":[]}`), 0)
	f.Add([]byte(`{"apps":[{"app":"a","root":true},{"app":"a","dev":true}]}`), 2)
	f.Add([]byte(`{"binaries":["x","x"]}`), 2)
	f.Add([]byte(`null`), 1)
	f.Fuzz(func(t *testing.T, msg []byte, nfds int) {
		m, err := parseAhead(msg, nfds)
		if err != nil {
			return
		}
		apps, bins, n := map[string]bool{}, map[string]bool{}, len(m.Binaries)
		for _, e := range m.Apps {
			if apps[e.App] {
				t.Fatalf("app %q read twice", e.App)
			}
			apps[e.App] = true
			n += btoi(e.NS) + btoi(e.Root) + btoi(e.Dev)
		}
		for _, b := range m.Binaries {
			if b == "" || bins[b] {
				t.Fatalf("binary %q read twice or unnamed", b)
			}
			bins[b] = true
		}
		if n != nfds {
			t.Fatalf("%d trees and binaries read for %d descriptors", n, nfds)
		}
	})
}
