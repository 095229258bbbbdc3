package stage1

import (
	"encoding/json"
	"fmt"

	"github.com/appc/spec/schema"

	"podctl/lifecycle"
	"podctl/network"
)

// NetworkSettings is a pod's network as stage0 asks for it, in the pod
// manifest's lifecycle.AnnotationNetwork: the flags' values as given,
// which stage1 parses again with the network package's parsers. The ports
// forwarded are the manifest's own (appc ports, each with its pod port).
type NetworkSettings struct {
	// Net are the --net values; none means the flavor's default.
	Net []string `json:"net,omitempty"`
	// Hostname is the pod's host name; empty means podctl-<uuid prefix>.
	Hostname     string   `json:"hostname,omitempty"`
	DNS          []string `json:"dns,omitempty"`
	DNSSearch    []string `json:"dns_search,omitempty"`
	DNSOptions   []string `json:"dns_options,omitempty"`
	HostsEntries []string `json:"hosts_entries,omitempty"`
	// MDS starts the pod's metadata service (--mds-register), reachable
	// from the pod's own network namespace only.
	MDS bool `json:"mds_register,omitempty"`
}

// Network is a pod's network as a flavor sets it up.
type Network struct {
	Spec     network.Spec
	Hostname string
	DNS      network.DNS
	Hosts    []network.HostEntry
	Ports    []network.PortMap
	// MDS: the pod has a metadata service (kit.StartMDS).
	MDS bool
}

// Private tells whether the pod joins CNI networks, in a network
// namespace of its own (--net=default or named networks).
func (n *Network) Private() bool { return n.Spec.Mode == "default" || n.Spec.Mode == "named" }

// ReadNetwork reads the pod's network from its manifest. A pod manifest
// without the annotation (one prepared by an older podctl) has the
// default network. uuid names the host by default.
func ReadNetwork(m *schema.PodManifest, uuid string) (*Network, error) {
	var ns NetworkSettings
	if v, ok := m.Annotations.Get(lifecycle.AnnotationNetwork); ok {
		if err := json.Unmarshal([]byte(v), &ns); err != nil {
			return nil, fmt.Errorf("pod manifest: %s: %w", lifecycle.AnnotationNetwork, err)
		}
	}
	n, err := ns.Parse()
	if err != nil {
		return nil, fmt.Errorf("pod manifest: %s: %w", lifecycle.AnnotationNetwork, err)
	}
	if n.Hostname == "" {
		n.Hostname = DefaultHostname(uuid)
	}
	for _, p := range m.Ports {
		if p.PodPort == nil {
			return nil, fmt.Errorf("pod manifest: port %s has no pod port", p.Name)
		}
		pm := network.PortMap{HostPort: int(p.HostPort), PodPort: int(p.PodPort.Port), Protocol: p.PodPort.Protocol}
		if p.HostIP != nil {
			pm.HostIP = p.HostIP.String()
		}
		n.Ports = append(n.Ports, pm)
	}
	return n, nil
}

// Parse checks the settings with the network package's parsers.
func (ns NetworkSettings) Parse() (*Network, error) {
	spec, err := network.ParseSpec(ns.Net)
	if err != nil {
		return nil, err
	}
	dns, err := network.ParseDNS(ns.DNS, ns.DNSSearch, ns.DNSOptions)
	if err != nil {
		return nil, err
	}
	if ns.MDS && spec.Mode == "host" {
		// On the host's loopback every process of the host would reach it;
		// checked here, where stage1 reads it too, for any pod manifest.
		return nil, fmt.Errorf("--mds-register serves the metadata service in the pod's own network namespace, and --net=host gives the pod none: drop one of them")
	}
	n := &Network{Spec: spec, Hostname: ns.Hostname, DNS: dns, MDS: ns.MDS}
	if ns.Hostname != "" {
		if err := CheckHostname(ns.Hostname); err != nil {
			return nil, err
		}
	}
	for _, e := range ns.HostsEntries {
		he, err := network.ParseHostEntry(e)
		if err != nil {
			return nil, err
		}
		n.Hosts = append(n.Hosts, he)
	}
	return n, nil
}

// DefaultHostname is a pod's host name unless --hostname gives one:
// podctl- and the first part of its UUID.
func DefaultHostname(uuid string) string {
	if len(uuid) > 8 {
		uuid = uuid[:8]
	}
	return "podctl-" + uuid
}

// CheckHostname refuses what the kernel or resolvers would not take as a
// host name: dot-separated labels of letters, digits and dashes, neither
// starting nor ending with a dash, at most 63 bytes each and 64 in all
// (the kernel's limit for a UTS name).
func CheckHostname(h string) error {
	bad := func(why string) error {
		return fmt.Errorf("host name %q %s: use letters, digits, dashes and dots, at most 64 characters", h, why)
	}
	if h == "" || len(h) > 64 {
		return bad("is empty or too long")
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 || h[i-1] == '-' {
				return bad("has an empty label or one ending in a dash")
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return bad("has a label starting with a dash")
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return bad(fmt.Sprintf("holds %q", c))
		}
		label++
		if label > 63 {
			return bad("has a label over 63 characters")
		}
	}
	if label == 0 || h[len(h)-1] == '-' {
		return bad("ends in a dot or a dash")
	}
	return nil
}
