package stage0

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage1"
)

// NetworkOptions are the pod's network flags: the settings stage1 reads
// back from the manifest (stage1.NetworkSettings) and the ports to
// forward.
type NetworkOptions struct {
	stage1.NetworkSettings
	Ports []Port
}

// Port is one --port: a host port forwarded to a port of the pod, named
// by one of its apps (Name) or given by number (PodPort, Protocol).
type Port struct {
	Name     string
	HostIP   net.IP
	HostPort uint
	PodPort  uint
	Protocol string
	// Spec is the value as given, which messages quote.
	Spec string
}

// String is the value as given, which ParsePort reads back.
func (p Port) String() string { return p.Spec }

// ParsePort reads a --port value: NAME:[HOSTIP:]HOSTPORT forwards to the
// port an app declares under NAME; [HOSTIP:]HOSTPORT:PODPORT[/udp] to
// any port of the pod. An IPv6 host address is written in brackets.
func ParsePort(spec string) (Port, error) {
	p := Port{Spec: spec, Protocol: "tcp"}
	bad := func(why string) (Port, error) {
		return Port{}, errdefs.New(ErrUsage, "--port %q %s: write NAME:[HOSTIP:]HOSTPORT or [HOSTIP:]HOSTPORT:PODPORT[/udp]", spec, why)
	}
	fields, err := portFields(spec)
	if err != nil {
		return bad(err.Error())
	}
	if len(fields) < 2 || len(fields) > 3 {
		return bad("has " + strconv.Itoa(len(fields)) + " parts")
	}
	if !isNumber(fields[0]) && net.ParseIP(strings.Trim(fields[0], "[]")) == nil {
		// NAME:[HOSTIP:]HOSTPORT
		if _, err := types.NewACName(fields[0]); err != nil {
			return bad("names no port an app could declare")
		}
		p.Name = fields[0]
		fields = fields[1:]
		if len(fields) == 2 {
			if p.HostIP = parseHostIP(fields[0]); p.HostIP == nil {
				return bad("has a host address that is not an IP address")
			}
			fields = fields[1:]
		}
		if p.HostPort, err = portNumber(fields[0]); err != nil {
			return bad(err.Error())
		}
		return p, nil
	}
	if len(fields) == 3 {
		if p.HostIP = parseHostIP(fields[0]); p.HostIP == nil {
			return bad("has a host address that is not an IP address")
		}
		fields = fields[1:]
	}
	pod, proto, hasProto := strings.Cut(fields[1], "/")
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return bad("names protocol " + strconv.Quote(proto) + ", not tcp or udp")
		}
		p.Protocol = proto
	}
	if p.HostPort, err = portNumber(fields[0]); err != nil {
		return bad(err.Error())
	}
	if p.PodPort, err = portNumber(pod); err != nil {
		return bad(err.Error())
	}
	return p, nil
}

// portFields splits a --port value at its colons, keeping a bracketed
// IPv6 address whole.
func portFields(spec string) ([]string, error) {
	var out []string
	for spec != "" {
		if spec[0] == '[' {
			end := strings.IndexByte(spec, ']')
			if end < 0 {
				return nil, fmt.Errorf("has an unclosed [")
			}
			out = append(out, spec[:end+1])
			spec = spec[end+1:]
			if spec != "" && spec[0] != ':' {
				return nil, fmt.Errorf("has text after ]")
			}
			spec = strings.TrimPrefix(spec, ":")
			continue
		}
		f, rest, more := strings.Cut(spec, ":")
		out = append(out, f)
		spec = rest
		if more && rest == "" {
			out = append(out, "")
		}
	}
	return out, nil
}

func parseHostIP(s string) net.IP {
	if strings.HasPrefix(s, "[") != strings.HasSuffix(s, "]") {
		return nil
	}
	return net.ParseIP(strings.Trim(s, "[]"))
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func portNumber(s string) (uint, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("has port %q, not a number from 1 to 65535", s)
	}
	return uint(n), nil
}

// isHostNetwork tells whether --net asks for the host's network; values
// that do not parse are refused later, by checkNetwork.
func isHostNetwork(net []string) bool {
	spec, err := network.ParseSpec(net)
	return err == nil && spec.Mode == "host"
}

// releasePodNetworks releases the networks pod uuid held and removes its
// network namespace, from CNI's cache in the data directory: its stage1
// is gone, and the namespace with the pod's init, if it was not a file.
func releasePodNetworks(dataDir, uuid string) error {
	env := network.NewEnv(dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Detach(ctx, uuid, ""); err != nil {
		return fmt.Errorf("releasing the networks of pod %s: %w", uuid, err)
	}
	if err := env.RemoveNetNS(uuid); err != nil {
		return fmt.Errorf("removing the network namespace of pod %s: %w", uuid, err)
	}
	return nil
}

// releaseStaleNetworks releases what CNI's cache and address
// reservations hold for pods that no longer run: removed ones, and all
// of them after a reboot. A pod that exists and has not ended keeps its
// networks.
func releaseStaleNetworks(dataDir string, report func(GCEvent)) error {
	live := func(uuid string) bool {
		p, err := lifecycle.PodFromUUIDString(dataDir, uuid)
		if err != nil {
			return false
		}
		defer p.Close()
		switch p.State() {
		case lifecycle.Exited, lifecycle.ExitedGarbage, lifecycle.Garbage:
			return false
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	released, err := network.NewEnv(dataDir).Release(ctx, live)
	for _, uuid := range released {
		report(GCEvent{uuid, "released", fmt.Sprintf("released the networks pod %s held", uuid)})
		if err := network.NewEnv(dataDir).RemoveNetNS(uuid); err != nil {
			report(GCEvent{uuid, "error", err.Error()})
		}
	}
	if err != nil {
		return fmt.Errorf("releasing stale networks: %w", err)
	}
	return nil
}

// checkNetwork checks the network options against each other and the
// flavor, before anything is imported.
func checkNetwork(no *NetworkOptions, flavor string) error {
	n, err := no.NetworkSettings.Parse()
	if err != nil {
		return errdefs.New(ErrUsage, "%v", err)
	}
	if flavor == "fly" {
		// fly runs in the host's namespaces: there is nothing to set up.
		asked := len(no.Ports) > 0 || no.Hostname != "" || len(no.DNS)+len(no.DNSSearch)+len(no.DNSOptions)+len(no.HostsEntries) > 0
		if no.MDS {
			return errdefs.New(ErrUsage, "--mds-register needs the pod's own network namespace, and fly pods have the host's: use the native or systemd flavor")
		}
		if (len(no.Net) > 0 && n.Spec.Mode != "host") || asked {
			return errdefs.New(ErrUsage, "the fly flavor always has the host's network: --net (but host), --port, --hostname, --dns and --hosts-entry are for the native and systemd flavors")
		}
		return nil
	}
	if len(no.Ports) > 0 && !n.Private() {
		return errdefs.New(ErrUsage, "--port needs a pod network: with --net=%s there is none to forward to", n.Spec.Mode)
	}
	seen := map[string]string{}
	for _, p := range no.Ports {
		proto := p.Protocol
		key := fmt.Sprintf("%s/%d/%s", p.HostIP, p.HostPort, proto)
		if prev, ok := seen[key]; ok && p.Name == "" {
			return errdefs.New(ErrUsage, "--port %s and --port %s forward the same host port", prev, p.Spec)
		}
		seen[key] = p.Spec
	}
	return nil
}

// exposedPorts resolves the ports to forward against the apps' declared
// ports, for the pod manifest: a named one must be declared by an app.
func (pl *plan) exposedPorts() ([]types.ExposedPort, error) {
	var out []types.ExposedPort
	hostPorts := map[string]string{}
	for _, p := range pl.opts.Network.Ports {
		ep := types.ExposedPort{HostPort: p.HostPort, HostIP: p.HostIP}
		if p.Name != "" {
			decl, err := pl.declaredPort(p.Name)
			if err != nil {
				return nil, err
			}
			ep.Name, ep.PodPort = decl.Name, decl
		} else {
			name := fmt.Sprintf("port-%d-%s", p.PodPort, p.Protocol)
			ep.Name = types.ACName(name)
			ep.PodPort = &types.Port{Name: ep.Name, Protocol: p.Protocol, Port: p.PodPort, Count: 1}
		}
		key := fmt.Sprintf("%s/%d/%s", p.HostIP, p.HostPort, ep.PodPort.Protocol)
		if prev, ok := hostPorts[key]; ok {
			return nil, errdefs.New(ErrUsage, "--port %s and --port %s forward the same host port", prev, p.Spec)
		}
		hostPorts[key] = p.Spec
		out = append(out, ep)
	}
	return out, nil
}

// declaredPort finds the port an app of the plan declares as name.
func (pl *plan) declaredPort(name string) (*types.Port, error) {
	var known []string
	for _, a := range pl.apps {
		if a.app == nil {
			continue
		}
		for i, port := range a.app.Ports {
			if string(port.Name) == name {
				return &a.app.Ports[i], nil
			}
			known = append(known, string(port.Name))
		}
	}
	if len(known) == 0 {
		return nil, errdefs.New(ErrUsage, "--port %s: no app of the pod declares a port: forward one by number, HOSTPORT:PODPORT", name)
	}
	return nil, errdefs.New(ErrUsage, "--port %s: no app of the pod declares port %q: its apps declare %s", name, name, strings.Join(known, ", "))
}

// setNetwork writes the network options into the pod manifest.
func (pl *plan) setNetwork(pm *schema.PodManifest) error {
	ports, err := pl.exposedPorts()
	if err != nil {
		return err
	}
	pm.Ports = ports
	ns := pl.opts.Network.NetworkSettings
	if len(ns.Net)+len(ns.DNS)+len(ns.DNSSearch)+len(ns.DNSOptions)+len(ns.HostsEntries) == 0 && ns.Hostname == "" && !ns.MDS {
		return nil
	}
	b, err := json.Marshal(ns)
	if err != nil {
		return fmt.Errorf("writing pod manifest: %w", err)
	}
	pm.Annotations.Set(lifecycle.AnnotationNetwork, string(b))
	return nil
}
