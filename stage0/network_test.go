package stage0

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"podctl/stage1"
)

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // NAME|HOSTIP|HOSTPORT|PODPORT|PROTO, or "error: ..." for a refusal
	}{
		{"http:8080", "http||8080|0|tcp"},
		{"http:127.0.0.1:8080", "http|127.0.0.1|8080|0|tcp"},
		{"http:[::1]:8080", "http|::1|8080|0|tcp"},
		{"8080:80", "||8080|80|tcp"},
		{"8080:53/udp", "||8080|53|udp"},
		{"127.0.0.1:8080:80", "|127.0.0.1|8080|80|tcp"},
		{"[::1]:8080:80/tcp", "|::1|8080|80|tcp"},
		{"8080", "error: has 1 parts"},
		{"127.0.0.1:8080", "error: has port"},
		{"http:0", "error: has port \"0\""},
		{"8080:70000", "error: has port \"70000\""},
		{"8080:80/sctp", "error: names protocol"},
		{"Bad_Name:80", "error: names no port"},
		{"http:300.1.1.1:80", "error: host address"},
		{"[::1:8080:80", "error: unclosed"},
		{"a:b:c:d", "error: has 4 parts"},
		{"", "error: has 0 parts"},
	} {
		p, err := ParsePort(tc.in)
		if strings.HasPrefix(tc.want, "error: ") {
			if err == nil || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
				t.Errorf("ParsePort(%q) = %+v, %v; want a usage error saying %q", tc.in, p, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePort(%q): %v", tc.in, err)
			continue
		}
		if got := portFieldsOf(p); got != tc.want {
			t.Errorf("ParsePort(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func portFieldsOf(p Port) string {
	ip := ""
	if p.HostIP != nil {
		ip = p.HostIP.String()
	}
	return strings.Join([]string{p.Name, ip, uintString(p.HostPort), uintString(p.PodPort), p.Protocol}, "|")
}

func uintString(n uint) string { return strconv.FormatUint(uint64(n), 10) }

func TestCheckHostname(t *testing.T) {
	for _, ok := range []string{"web", "web-1", "a.b.c", "A1", strings.Repeat("a", 63)} {
		if err := stage1.CheckHostname(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "a..b", ".a", "a.", "a_b", "a b", strings.Repeat("a", 64), strings.Repeat("a.", 33) + "a"} {
		if err := stage1.CheckHostname(bad); err == nil {
			t.Errorf("%q taken", bad)
		}
	}
}

// FuzzParsePort: no panic, a refusal is one usage line, and what is
// taken is a port from 1 to 65535 of tcp or udp, forwarded by name or to
// a pod port, that parses again, written back, to the same.
func FuzzParsePort(f *testing.F) {
	addSeeds(f, "http:8080", "http:127.0.0.1:8080", "8080:80/udp", "[::1]:8080:80", "[::1", "a:b:c:d", ":", "::", "1:2:3")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePort(s)
		if err != nil {
			if !errors.Is(err, ErrUsage) || strings.ContainsAny(err.Error(), "\r\n") && !strings.ContainsAny(s, "\r\n") {
				t.Fatalf("%q: error %q", s, err)
			}
			return
		}
		if p.HostPort < 1 || p.HostPort > 65535 || (p.Name == "") == (p.PodPort == 0) || p.PodPort > 65535 || (p.Protocol != "tcp" && p.Protocol != "udp") {
			t.Fatalf("%q parsed as %+v", s, p)
		}
		back := uintString(p.HostPort)
		if p.HostIP != nil {
			back = "[" + p.HostIP.String() + "]:" + back
		}
		if p.Name != "" {
			back = p.Name + ":" + back
		} else {
			back += ":" + uintString(p.PodPort) + "/" + p.Protocol
		}
		again, err := ParsePort(back)
		if err != nil || portFieldsOf(again) != portFieldsOf(p) {
			t.Fatalf("%q parsed as %s, written back as %q, parsed as %s, %v", s, portFieldsOf(p), back, portFieldsOf(again), err)
		}
	})
}
