package network

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDNS(t *testing.T) {
	for _, c := range []struct {
		dns, search, opts []string
		want              DNS
		err               string
	}{
		{nil, nil, nil, DNS{Mode: DNSDefault}, ""},
		{nil, []string{"example.com."}, []string{"ndots:2"}, DNS{Mode: DNSDefault, Search: []string{"example.com"}, Options: []string{"ndots:2"}}, ""},
		{[]string{"host"}, nil, nil, DNS{Mode: DNSHost}, ""},
		{[]string{"none"}, nil, nil, DNS{Mode: DNSNone}, ""},
		{[]string{"8.8.8.8", "2001:4860:4860::8888,1.1.1.1"}, []string{"a.b"}, nil,
			DNS{Mode: DNSSet, Servers: []string{"8.8.8.8", "2001:4860:4860::8888", "1.1.1.1"}, Search: []string{"a.b"}}, ""},
		{[]string{"host", "8.8.8.8"}, nil, nil, DNS{}, `parsing --dns: "host" stands alone`},
		{[]string{"8.8.8.8,none"}, nil, nil, DNS{}, `parsing --dns: "none" stands alone`},
		{[]string{"host"}, []string{"a.b"}, nil, DNS{}, "parsing --dns: --dns=host cannot be given with --dns-search or --dns-opt"},
		{[]string{"none"}, nil, []string{"ndots:1"}, DNS{}, "parsing --dns: --dns=none cannot be given"},
		{[]string{"8.8.8"}, nil, nil, DNS{}, `parsing --dns: "8.8.8" is not an IP address, host or none`},
		{[]string{"fe80::1%eth0"}, nil, nil, DNS{}, `parsing --dns: "fe80::1%eth0" is not an IP address`},
		{nil, []string{"a b"}, nil, DNS{}, `parsing --dns-search: "a b" is not a domain name`},
		{nil, []string{"-a.b"}, nil, DNS{}, `parsing --dns-search: "-a.b" is not a domain name`},
		{nil, nil, []string{"nd ots"}, DNS{}, `parsing --dns-opt: "nd ots" is not a resolver option`},
		{nil, nil, []string{""}, DNS{}, `parsing --dns-opt: "" is not a resolver option`},
	} {
		got, err := ParseDNS(c.dns, c.search, c.opts)
		if c.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("ParseDNS(%q, %q, %q) error %v; want %q", c.dns, c.search, c.opts, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseDNS(%q, %q, %q) = %+v, %v; want %+v", c.dns, c.search, c.opts, got, err, c.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	host := []byte("# comment\nnameserver 192.168.1.1\nnameserver 127.0.0.53\nnameserver ::1\nsearch lan home\noptions edns0\n")
	local := []byte("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n")
	for _, c := range []struct {
		name string
		d    DNS
		host []byte
		want string // "-" for none written
	}{
		{"default copies the host's", DNS{}, host, "# written by podctl\nnameserver 192.168.1.1\nsearch lan home\noptions edns0\n"},
		{"default with search and options", DNS{Search: []string{"x.y"}, Options: []string{"ndots:3"}}, host,
			"# written by podctl\nnameserver 192.168.1.1\nsearch x.y\noptions ndots:3\n"},
		{"default with only a local resolver", DNS{}, local, "-"},
		{"default without a host file", DNS{}, nil, "-"},
		{"host", DNS{Mode: DNSHost}, local, string(local)},
		{"host without a host file", DNS{Mode: DNSHost}, nil, "-"},
		{"none", DNS{Mode: DNSNone}, host, "-"},
		{"set", DNS{Mode: DNSSet, Servers: []string{"10.0.0.2", "10.0.0.3"}, Options: []string{"rotate"}}, host,
			"# written by podctl\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions rotate\n"},
	} {
		got, ok := ResolvConf(c.d, c.host)
		if c.want == "-" {
			if ok {
				t.Errorf("%s: wrote %q; want none", c.name, got)
			}
			continue
		}
		if !ok || string(got) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
}

func TestParseHostEntry(t *testing.T) {
	for _, c := range []struct {
		in   string
		want HostEntry
		err  string
	}{
		{"10.0.0.5=db", HostEntry{IP: "10.0.0.5", Name: "db"}, ""},
		{"2001:db8::1=db.example.com", HostEntry{IP: "2001:db8::1", Name: "db.example.com"}, ""},
		{"10.0.0.5", HostEntry{}, `parsing --hosts-entry: "10.0.0.5" is not IP=NAME`},
		{"10.0.0=db", HostEntry{}, `parsing --hosts-entry: "10.0.0" is not an IP address`},
		{"10.0.0.5=", HostEntry{}, `parsing --hosts-entry: "" is not a host name`},
		{"10.0.0.5=a b", HostEntry{}, `parsing --hosts-entry: "a b" is not a host name`},
		{"10.0.0.5=db-", HostEntry{}, `is not a host name`},
		{"10.0.0.5=a..b", HostEntry{}, `is not a host name`},
		{"10.0.0.5=" + strings.Repeat("a", 64), HostEntry{}, `is not a host name`},
	} {
		got, err := ParseHostEntry(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseHostEntry(%q) error %v; want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseHostEntry(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestHostsFile(t *testing.T) {
	head := "# written by podctl\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	atts := []Attachment{{Network: "default", Interface: "eth0", Address: "10.47.0.5/16"}, {Network: "lan", Interface: "eth1", Address: "10.1.0.2/24"}}
	entries := []HostEntry{{IP: "10.0.0.9", Name: "db"}}
	if got := string(HostsFile("web", atts, entries)); got != head+"10.47.0.5\tweb\n10.0.0.9\tdb\n" {
		t.Errorf("with addresses: %q", got)
	}
	if got := string(HostsFile("web", nil, nil)); got != head+"127.0.1.1\tweb\n" {
		t.Errorf("without addresses: %q", got)
	}
}

func FuzzParseDNS(f *testing.F) {
	f.Add("8.8.8.8", "example.com", "ndots:2")
	f.Add("host", "", "")
	f.Add("none,1.1.1.1", "a..b", "x y")
	f.Fuzz(func(t *testing.T, dns, search, opt string) {
		var ds, ss, os []string
		if dns != "" {
			ds = []string{dns}
		}
		if search != "" {
			ss = []string{search}
		}
		if opt != "" {
			os = []string{opt}
		}
		d, err := ParseDNS(ds, ss, os)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		// What parses writes a resolv.conf of whole lines, one a setting.
		out, ok := ResolvConf(d, []byte("nameserver 10.9.9.9\n"))
		if d.Mode == DNSNone && ok {
			t.Fatal("--dns=none wrote a resolv.conf")
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
			if ok && line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "nameserver ") &&
				!strings.HasPrefix(line, "search ") && !strings.HasPrefix(line, "options ") {
				t.Fatalf("%q gave the line %q", []string{dns, search, opt}, line)
			}
		}
	})
}

func FuzzParseHostEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.5=db", "::1=a.b", "x=y", "1.2.3.4=a\nb", "=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseHostEntry(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		// An entry is one line of two fields.
		line := strings.TrimSuffix(string(HostsFile("", nil, []HostEntry{e})), "\n")
		line = line[strings.LastIndex(line, "\n")+1:]
		if f := strings.Fields(line); len(f) != 2 || f[0] != e.IP || f[1] != e.Name {
			t.Fatalf("%q gave the line %q", s, line)
		}
	})
}
