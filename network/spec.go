package network

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"podctl/internal/errdefs"
)

// The modes of a pod's networking.
const (
	ModeDefault = "default" // the default network, eth0
	ModeNone    = "none"    // a namespace of its own with only loopback
	ModeHost    = "host"    // the host's namespace
	ModeNamed   = "named"   // the networks named, eth0, eth1... in order
)

// DefaultName is the name of the default network.
const DefaultName = "default"

// Spec is what a pod asks for, from --net (repeatable, comma-separated).
type Spec struct {
	Mode     string // "default", "none", "host" or "named"
	Networks []Net  // Mode default: [{Name:"default"}]; named: in order
}

// Net is one network a pod joins.
type Net struct {
	Name string
	Args map[string]string // per-network CNI_ARGS as rkt: --net=NAME:IP=10.1.2.3;K=V
}

// validName reports whether s is what libcni accepts as a network name,
// `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`, checked by hand: a regular expression
// compiled as the package is loaded costs every podctl process's start.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return s != ""
}

// validArgKey reports whether s is a CNI_ARGS key, `^[A-Za-z_][A-Za-z0-9_]*$`.
func validArgKey(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && !isAlnum(c) || (i == 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ParseSpec reads the values of --net. Nothing given means the default
// network; "none" and "host" stand alone; otherwise each comma-separated
// item is NAME or NAME:K=V;K=V (values without spaces), and the pod joins
// them in order. A spec of
// the default network alone, with or without arguments, is Mode default.
func ParseSpec(values []string) (Spec, error) {
	var items []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			items = append(items, strings.TrimSpace(item))
		}
	}
	if len(items) == 0 {
		return Spec{Mode: ModeDefault, Networks: []Net{{Name: DefaultName}}}, nil
	}
	var nets []Net
	seen := map[string]bool{}
	for _, item := range items {
		if item == ModeNone || item == ModeHost {
			if len(items) > 1 {
				return Spec{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: %q stands alone, it cannot be given with other networks", item)
			}
			return Spec{Mode: item}, nil
		}
		n, err := parseNet(item)
		if err != nil {
			return Spec{}, err
		}
		if seen[n.Name] {
			return Spec{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: network %q is given twice", n.Name)
		}
		seen[n.Name] = true
		nets = append(nets, n)
	}
	if len(nets) == 1 && nets[0].Name == DefaultName {
		return Spec{Mode: ModeDefault, Networks: nets}, nil
	}
	return Spec{Mode: ModeNamed, Networks: nets}, nil
}

// parseNet reads one item: NAME or NAME:K=V;K=V.
func parseNet(item string) (Net, error) {
	name, args, hasArgs := strings.Cut(item, ":")
	if item == "" {
		return Net{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: an empty network name (use NAME, NAME:K=V;K=V, none or host)")
	}
	if !validName(name) {
		return Net{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: %q is not a network name (letters, digits, '_', '.', '-')", name)
	}
	if name == ModeNone || name == ModeHost {
		return Net{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: %s takes no arguments", name)
	}
	n := Net{Name: name}
	if !hasArgs {
		return n, nil
	}
	n.Args = map[string]string{}
	for _, kv := range strings.Split(args, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !validArgKey(k) || v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '=' || r == 0x7f }) {
			return Net{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: network %s: %q is not an argument KEY=VALUE (e.g. %s:IP=10.1.2.3)", name, kv, name)
		}
		if _, dup := n.Args[k]; dup {
			return Net{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: network %s: argument %s is given twice", name, k)
		}
		if k == "IP" {
			if _, err := netip.ParseAddr(v); err != nil {
				return Net{}, errdefs.New(errdefs.ErrInvalid, "parsing --net: network %s: IP %q is not an IP address", name, v)
			}
		}
		n.Args[k] = v
	}
	return n, nil
}

// String gives the spec back in --net's syntax.
func (s Spec) String() string {
	if s.Mode == ModeNone || s.Mode == ModeHost {
		return s.Mode
	}
	var b strings.Builder
	for i, n := range s.Networks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n.Name)
		for j, k := range slices.Sorted(maps.Keys(n.Args)) {
			sep := ";"
			if j == 0 {
				sep = ":"
			}
			fmt.Fprintf(&b, "%s%s=%s", sep, k, n.Args[k])
		}
	}
	return b.String()
}
