package rootless

import (
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	file := `# comment
alice:100000:65536
1002:200000:1000
bob:x:65536
carol:300000:0
alice:500000:10
dave:4294967000:1000
`
	for _, c := range []struct {
		name string
		uid  int
		want Range
		ok   bool
	}{
		{"alice", 1001, Range{100000, 65536}, true},
		{"bob", 1002, Range{200000, 1000}, true}, // by uid, past the bad line
		{"carol", 1003, Range{}, false},          // an empty range is none
		{"dave", 1004, Range{}, false},           // past the 32-bit ids
		{"erin", 1005, Range{}, false},
	} {
		got, ok, err := ParseSubIDs(strings.NewReader(file), c.name, c.uid)
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("%s: got %v %v %v, want %v %v", c.name, got, ok, err, c.want, c.ok)
		}
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/x/data")
	t.Setenv("HOME", "/home/u")
	if d, err := DefaultDataDir(); err != nil || d != "/x/data/podctl" {
		t.Errorf("with XDG_DATA_HOME: %q %v", d, err)
	}
	// A relative XDG_DATA_HOME is to be ignored, as the spec says.
	t.Setenv("XDG_DATA_HOME", "rel")
	if d, err := DefaultDataDir(); err != nil || d != "/home/u/.local/share/podctl" {
		t.Errorf("without XDG_DATA_HOME: %q %v", d, err)
	}
	t.Setenv("HOME", "rel")
	if _, err := DefaultDataDir(); err == nil {
		t.Error("a relative HOME was taken")
	}
}

// FuzzParseSubIDs: /etc/subuid is read by every ordinary user's podctl;
// whatever it holds, a range found fits in 32-bit ids and is not empty.
func FuzzParseSubIDs(f *testing.F) {
	f.Add("alice:100000:65536\n1000:200000:1\n", "alice", 1000)
	f.Add("# comment\nbob:4294967294:2\n", "bob", 1001)
	f.Add("x::\n:::\n", "", 0)
	f.Fuzz(func(t *testing.T, file, name string, uid int) {
		rg, ok, err := ParseSubIDs(strings.NewReader(file), name, uid)
		if err != nil || !ok {
			return
		}
		if rg.Count == 0 || rg.Start+rg.Count > 1<<32-1 {
			t.Fatalf("range %+v from %q", rg, file)
		}
	})
}
