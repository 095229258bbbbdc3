package network

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
)

// Every refusal is one line naming the network and what failed, and
// leaves nothing behind.
func TestAttachRefusals(t *testing.T) {
	t.Parallel()
	// Networks 6 and 7; 8 is TestDetachIgnoresCachedProcNamespace's.
	env, tn := newTestEnv(t, 6)
	// A second good network, joined first as eth0, so that a refusal of
	// the second network has something to undo.
	first := testNet{name: "testnet7", bridge: "podctltest7", n: 7}
	writeConf(t, env, "07-first.conflist", strings.Replace(first.conflist(), `{"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}`, `{"type": "tuning"}`, 1))
	t.Cleanup(func() { _ = runQuiet("ip", "link", "del", first.bridge) })
	writeConf(t, env, "20-bad.conflist", `{"cniVersion": "1.0.0", "name": "bad", "plugins": [`)
	writeConf(t, env, "30-noplug.conflist", `{"cniVersion": "1.0.0", "name": "noplug", "plugins": [{"type": "nosuchplugin"}]}`)

	tcp, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpPort := tcp.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpPort := udp.LocalAddr().(*net.UDPAddr).Port

	for _, c := range []struct {
		name  string
		net   string
		ports []PortMap
		want  []string
	}{
		{"unknown network", "first,nosuch", nil,
			[]string{"network nosuch: no such network in " + env.ConfDir + " (known: testnet7, testnet6, noplug, default); files that do not parse: 20-bad.conflist"}},
		{"malformed conflist", "testnet7,bad", nil, []string{"network bad: " + env.ConfDir + "/20-bad.conflist does not parse: "}},
		{"missing plugin", "testnet7,noplug", nil, []string{`network noplug: plugin "nosuchplugin" is not installed in /usr/lib/cni`}},
		{"address outside the range", "testnet7," + tn.name + ":IP=10.99.0.5", nil, []string{"network " + tn.name + ": IP=10.99.0.5 is outside the network's address range (10.213.6.0/24)"}},
		{"address in the range taken", "testnet7," + tn.name + ":IP=10.213.6.1", nil, []string{"network " + tn.name + ": ", "10.213.6.1"}},
		{"tcp port taken", "testnet7," + tn.name, []PortMap{{HostPort: tcpPort, PodPort: 80, Protocol: "tcp"}},
			[]string{fmt.Sprintf("network %s: host port %d/tcp is already taken: ", tn.name, tcpPort)}},
		{"udp port taken", "testnet7," + tn.name, []PortMap{{HostPort: udpPort, PodPort: 53, Protocol: "udp"}},
			[]string{fmt.Sprintf("network %s: host port %d/udp is already taken: ", tn.name, udpPort)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, netns := newPod(t, env)
			spec, err := ParseSpec([]string{strings.Replace(c.net, "first", first.name, 1)})
			if err != nil {
				t.Fatal(err)
			}
			atts, err := env.Attach(context.Background(), id, netns, spec, c.ports)
			if err == nil {
				t.Fatalf("attached: %+v", atts)
			}
			msg := err.Error()
			t.Log(msg)
			if strings.ContainsAny(msg, "\r\n") || !strings.HasPrefix(msg, c.want[0]) {
				t.Errorf("error %q; want one line starting %q", msg, c.want[0])
			}
			for _, w := range c.want[1:] {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			checkNothingLeft(t, env, tn, id, nil, c.ports...)
			checkNothingLeft(t, env, first, id, nil)
		})
	}
}

func runQuiet(name string, args ...string) error {
	return execCommand(name, args...).Run()
}
