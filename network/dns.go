package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"podctl/internal/errdefs"
)

// The modes of a pod's resolv.conf.
const (
	DNSDefault = ""     // the host's nameservers unless they are loopback ones
	DNSHost    = "host" // the host's resolv.conf as is
	DNSNone    = "none" // no resolv.conf written
	DNSSet     = "set"  // the servers given
)

// DNS says what /etc/resolv.conf every app of the pod sees.
type DNS struct {
	Mode    string   // DNSDefault, DNSHost, DNSNone or DNSSet
	Servers []string // --dns=IP (repeatable)
	Search  []string // --dns-search
	Options []string // --dns-opt
}

// ParseDNS reads --dns (host, none, or nameserver addresses), --dns-search
// and --dns-opt. host and none stand alone and take no search domains or
// options.
func ParseDNS(dns, search, opts []string) (DNS, error) {
	d := DNS{Mode: DNSDefault}
	for _, v := range dns {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			switch {
			case item == DNSHost || item == DNSNone:
				if len(dns) > 1 || d.Mode != DNSDefault || strings.Contains(v, ",") {
					return DNS{}, errdefs.New(errdefs.ErrInvalid, "parsing --dns: %q stands alone, it cannot be given with nameservers", item)
				}
				d.Mode = item
			default:
				a, err := netip.ParseAddr(item)
				if err != nil || a.Zone() != "" {
					return DNS{}, errdefs.New(errdefs.ErrInvalid, "parsing --dns: %q is not an IP address, host or none", item)
				}
				d.Mode = DNSSet
				d.Servers = append(d.Servers, a.String())
			}
		}
	}
	if (d.Mode == DNSHost || d.Mode == DNSNone) && (len(search) > 0 || len(opts) > 0) {
		return DNS{}, errdefs.New(errdefs.ErrInvalid, "parsing --dns: --dns=%s cannot be given with --dns-search or --dns-opt", d.Mode)
	}
	for _, s := range search {
		s = strings.TrimSuffix(strings.TrimSpace(s), ".")
		if !validHostName(s) {
			return DNS{}, errdefs.New(errdefs.ErrInvalid, "parsing --dns-search: %q is not a domain name", s)
		}
		d.Search = append(d.Search, s)
	}
	for _, o := range opts {
		o = strings.TrimSpace(o)
		if o == "" || strings.ContainsFunc(o, func(r rune) bool { return r <= ' ' || r > '~' || r == '#' || r == ';' }) {
			return DNS{}, errdefs.New(errdefs.ErrInvalid, "parsing --dns-opt: %q is not a resolver option (e.g. ndots:2)", o)
		}
		d.Options = append(d.Options, o)
	}
	return d, nil
}

// ResolvConf is the resolv.conf of a pod, made from d and the host's own
// (hostResolv). It returns false when none is to be written: with mode
// none, with mode host and no host file, and in the default mode when the
// host has no nameserver but loopback ones (a local cache such as
// systemd-resolved's 127.0.0.53, which the pod's namespace cannot reach).
func ResolvConf(d DNS, hostResolv []byte) ([]byte, bool) {
	switch d.Mode {
	case DNSNone:
		return nil, false
	case DNSHost:
		return hostResolv, hostResolv != nil
	case DNSSet:
		return formatResolv(d.Servers, d.Search, d.Options), true
	}
	servers, search, opts := parseResolv(hostResolv)
	servers = slices.DeleteFunc(servers, func(s string) bool {
		a, err := netip.ParseAddr(s)
		return err != nil || a.IsLoopback()
	})
	if len(servers) == 0 {
		return nil, false
	}
	if len(d.Search) > 0 {
		search = d.Search
	}
	if len(d.Options) > 0 {
		opts = d.Options
	}
	return formatResolv(servers, search, opts), true
}

// parseResolv reads the nameserver, search (or domain) and options lines of
// a resolv.conf.
func parseResolv(b []byte) (servers, search, opts []string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search", "domain":
			search = f[1:]
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	return servers, search, opts
}

func formatResolv(servers, search, opts []string) []byte {
	var b bytes.Buffer
	b.WriteString("# written by podctl\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.Bytes()
}

// HostEntry is a line added to the pod's /etc/hosts (--hosts-entry IP=NAME).
type HostEntry struct{ IP, Name string }

// ParseHostEntry reads --hosts-entry IP=NAME.
func ParseHostEntry(s string) (HostEntry, error) {
	ip, name, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return HostEntry{}, errdefs.New(errdefs.ErrInvalid, "parsing --hosts-entry: %q is not IP=NAME", s)
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return HostEntry{}, errdefs.New(errdefs.ErrInvalid, "parsing --hosts-entry: %q is not an IP address", ip)
	}
	if !validHostName(name) {
		return HostEntry{}, errdefs.New(errdefs.ErrInvalid, "parsing --hosts-entry: %q is not a host name", name)
	}
	return HostEntry{IP: a.String(), Name: name}, nil
}

// validHostName says whether s is a host name: dot-separated labels of
// letters, digits and inner hyphens, 63 bytes a label, 253 in all.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// HostsFile is the pod's /etc/hosts: the localhost lines, the pod's host
// name on its first address (127.0.1.1 when it has none), then entries.
func HostsFile(hostname string, addrs []Attachment, entries []HostEntry) []byte {
	var b bytes.Buffer
	b.WriteString("# written by podctl\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if hostname != "" {
		own := "127.0.1.1"
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.Address); err == nil {
				own = p.Addr().String()
				break
			}
		}
		fmt.Fprintf(&b, "%s\t%s\n", own, hostname)
	}
	for _, e := range entries {
		fmt.Fprintf(&b, "%s\t%s\n", e.IP, e.Name)
	}
	return b.Bytes()
}
