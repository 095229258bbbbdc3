package cli

import (
	"bytes"
	"io"
	"testing"
)

// Every verb's name in the table is the name of the command it builds:
// a verb that builds another would be missing from a tree built for it.
func TestVerbNames(t *testing.T) {
	g := &globals{}
	seen := map[string]bool{}
	for _, v := range verbs {
		if got := v.make(g).Name(); got != v.name {
			t.Errorf("verb %q builds command %q", v.name, got)
		}
		if seen[v.name] {
			t.Errorf("verb %q is in the table twice", v.name)
		}
		seen[v.name] = true
	}
	// The whole tree is the table (help joins it when it runs).
	root := NewRoot(io.Discard, io.Discard)
	if n := len(root.Commands()); n != len(verbs) {
		t.Errorf("the tree has %d commands, the table %d verbs", n, len(verbs))
	}
}

func TestVerbOf(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "example.com/busybox"}, "run"},
		{[]string{"--dir", "/tmp/x", "list"}, "list"},
		{[]string{"--dir=/tmp/x", "--debug", "gc", "--mark-only"}, "gc"},
		{[]string{"--dir", "run", "status"}, "status"},
		{[]string{"--help", "run"}, ""},
		{[]string{"-h"}, ""},
		{[]string{"help", "run"}, ""},
		{[]string{"rnu"}, ""},
		{[]string{"--dir"}, ""},
		{nil, ""},
	} {
		if got := verbOf(c.args); got != c.want {
			t.Errorf("verbOf(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// A verb's help is the same in a tree built for it alone as in the whole
// tree.
func TestOneVerbTree(t *testing.T) {
	for _, v := range verbs {
		var whole, alone bytes.Buffer
		execute([]string{v.name, "--help"}, &alone, io.Discard)
		root := NewRoot(&whole, io.Discard)
		root.SetArgs([]string{v.name, "--help"})
		if err := root.Execute(); err != nil {
			t.Fatalf("%s --help: %v", v.name, err)
		}
		if whole.String() != alone.String() || whole.Len() == 0 {
			t.Errorf("%s --help alone:\n%s\nin the whole tree:\n%s", v.name, alone.String(), whole.String())
		}
	}
}
