package network

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	def := Spec{Mode: ModeDefault, Networks: []Net{{Name: "default"}}}
	for _, c := range []struct {
		in   []string
		want Spec
		err  string
	}{
		{nil, def, ""},
		{[]string{}, def, ""},
		{[]string{"default"}, def, ""},
		{[]string{"none"}, Spec{Mode: ModeNone}, ""},
		{[]string{"host"}, Spec{Mode: ModeHost}, ""},
		{[]string{"default:IP=10.47.0.9"}, Spec{Mode: ModeDefault, Networks: []Net{{Name: "default", Args: map[string]string{"IP": "10.47.0.9"}}}}, ""},
		{[]string{"a,b", "c"}, Spec{Mode: ModeNamed, Networks: []Net{{Name: "a"}, {Name: "b"}, {Name: "c"}}}, ""},
		{[]string{"default,lan"}, Spec{Mode: ModeNamed, Networks: []Net{{Name: "default"}, {Name: "lan"}}}, ""},
		{[]string{"lan:IP=10.1.2.3;K8S_X=y.z"}, Spec{Mode: ModeNamed, Networks: []Net{{Name: "lan", Args: map[string]string{"IP": "10.1.2.3", "K8S_X": "y.z"}}}}, ""},
		{[]string{"host", "lan"}, Spec{}, `parsing --net: "host" stands alone, it cannot be given with other networks`},
		{[]string{"none,default"}, Spec{}, `parsing --net: "none" stands alone`},
		{[]string{"a,"}, Spec{}, "parsing --net: an empty network name"},
		{[]string{""}, Spec{}, "parsing --net: an empty network name"},
		{[]string{"a,a"}, Spec{}, `parsing --net: network "a" is given twice`},
		{[]string{"a b"}, Spec{}, `parsing --net: "a b" is not a network name`},
		{[]string{"../x"}, Spec{}, `parsing --net: "../x" is not a network name`},
		{[]string{"a:"}, Spec{}, `parsing --net: network a: "" is not an argument KEY=VALUE (e.g. a:IP=10.1.2.3)`},
		{[]string{"a:IP"}, Spec{}, `parsing --net: network a: "IP" is not an argument`},
		{[]string{"a:IP=1=2"}, Spec{}, `parsing --net: network a: "IP=1=2" is not an argument`},
		{[]string{"a:IP=10.0.0.1;IP=10.0.0.2"}, Spec{}, "parsing --net: network a: argument IP is given twice"},
		{[]string{"a:IP=nope"}, Spec{}, `parsing --net: network a: IP "nope" is not an IP address`},
		{[]string{"host:IP=10.0.0.1"}, Spec{}, "parsing --net: host takes no arguments"},
	} {
		got, err := ParseSpec(c.in)
		if c.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("ParseSpec(%q) error %v; want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"", "default", "none", "host", "a,b", "lan:IP=10.1.2.3;K=V", "a:", "x,,y", "host,a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec([]string{s})
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		// What parses prints back to a spec that parses the same.
		again, err := ParseSpec([]string{spec.String()})
		if err != nil || !reflect.DeepEqual(again, spec) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, spec, spec.String(), again, err)
		}
		switch spec.Mode {
		case ModeNone, ModeHost:
			if len(spec.Networks) != 0 {
				t.Fatalf("%q: mode %s with networks", s, spec.Mode)
			}
		case ModeDefault, ModeNamed:
			if len(spec.Networks) == 0 {
				t.Fatalf("%q: mode %s without networks", s, spec.Mode)
			}
		default:
			t.Fatalf("%q: mode %q", s, spec.Mode)
		}
	})
}
