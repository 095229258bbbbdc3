package cli

import (
	"reflect"
	"strings"
	"testing"
)

func TestTrustHelperArgs(t *testing.T) {
	for _, c := range []struct {
		f    trustFlags
		args []string
		verb string
		want []string
		err  string
	}{
		{f: trustFlags{prefix: "example.com/app"}, args: []string{"k.asc"}, verb: "trust-add", want: []string{"--prefix=example.com/app", "k.asc"}},
		{f: trustFlags{root: true}, args: []string{"-"}, verb: "trust-add", want: []string{"--root", "-"}},
		{f: trustFlags{list: true}, verb: "trust-list"},
		{f: trustFlags{list: true, format: "json"}, verb: "trust-list", want: []string{"--format=json"}},
		{f: trustFlags{rm: true}, args: []string{"ABCD"}, verb: "trust-rm", want: []string{"ABCD"}},
		{f: trustFlags{rm: true, root: true}, args: []string{"ABCD"}, verb: "trust-rm", want: []string{"--root", "ABCD"}},
		{f: trustFlags{}, err: "takes one KEYFILE"},
		{f: trustFlags{list: true, rm: true}, err: "not both"},
		{f: trustFlags{format: "json"}, args: []string{"k"}, err: "goes with --list"},
		{f: trustFlags{list: true, root: true}, err: "no --prefix or --root"},
		{f: trustFlags{rm: true}, err: "one key FINGERPRINT"},
	} {
		verb, args, err := c.f.helperArgs(c.args)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v %q: error %v, want %q", c.f, c.args, err, c.err)
			}
			continue
		}
		if err != nil || verb != c.verb || !reflect.DeepEqual(args, c.want) {
			t.Errorf("%+v %q: %s %q %v, want %s %q", c.f, c.args, verb, args, err, c.verb, c.want)
		}
	}
}
