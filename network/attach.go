package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"podctl/datadir"
	"podctl/internal/errdefs"
	"podctl/internal/flock"
)

// PortMap is a host port forwarded to the pod (the portmap plugin's runtime config).
type PortMap struct {
	HostIP   string // "" = all
	HostPort int
	PodPort  int
	Protocol string // "tcp" or "udp"
}

// portMapping is a PortMap as the portmap plugin reads it.
type portMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Attachment is one network a pod joined, as status shows it and the pod keeps it.
type Attachment struct {
	Network   string `json:"network"`
	Interface string `json:"interface"` // eth0, eth1...
	Address   string `json:"address"`   // CIDR, e.g. 172.x.y.z/16
	Gateway   string `json:"gateway,omitempty"`
	MAC       string `json:"mac,omitempty"`
}

// Attach joins the network namespace at netns to every network of spec
// (Mode default or named; none and host join nothing), in order, as pod
// uuid, with ports forwarded by the first network that has the
// portMappings capability. On any failure it deletes what it had added and
// returns one line saying which network and what failed.
func (e Env) Attach(ctx context.Context, uuid, netns string, spec Spec, ports []PortMap) ([]Attachment, error) {
	if spec.Mode == ModeNone || spec.Mode == ModeHost {
		if len(ports) > 0 {
			return nil, errdefs.New(errdefs.ErrInvalid, "forwarding ports: --net=%s has no network to forward them to", spec.Mode)
		}
		return nil, nil
	}
	if !validName(uuid) {
		return nil, errdefs.New(errdefs.ErrInvalid, "attaching networks: %q is not a pod UUID", uuid)
	}
	if netns == "" {
		return nil, errdefs.New(errdefs.ErrInvalid, "attaching networks: pod %s has no network namespace", uuid)
	}
	lists, portNet, err := e.prepare(spec, ports)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{e.cacheDir(), e.networksDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("attaching networks: %w", err)
		}
	}
	if len(ports) > 0 {
		// Checked and forwarded one pod after the other.
		unlock, err := e.lock("ports.lock", "forwarding ports")
		if err != nil {
			return nil, err
		}
		defer unlock()
		if err := e.checkPorts(uuid, ports); err != nil {
			return nil, fmt.Errorf("network %s: %w", spec.Networks[portNet].Name, err)
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(e.PluginDirs, e.cacheDir(), nil)
	if err := heldBy(cni, uuid); err != nil {
		return nil, err
	}
	var rts []*libcni.RuntimeConf
	var atts []Attachment
	for i, n := range spec.Networks {
		rt := runtimeConf(uuid, netns, i, n)
		if i == portNet {
			rt.CapabilityArgs = map[string]any{"portMappings": portMappings(ports)}
		}
		rts = append(rts, rt)
		res, err := cni.AddNetworkList(ctx, lists[i], rt)
		if err == nil {
			var a Attachment
			if a, err = attachment(n.Name, rt.IfName, res); err == nil {
				atts = append(atts, a)
				continue
			}
		}
		msg := fmt.Sprintf("network %s: %s", n.Name, addError(err))
		if uerr := undo(context.WithoutCancel(ctx), cni, lists[:i+1], rts); uerr != nil {
			msg += "; undoing what was added: " + oneLine(uerr)
		}
		return nil, errors.New(msg)
	}
	return atts, nil
}

// heldBy refuses a pod that already holds networks: joining them again
// would fail, and undoing the failure would take the ones it holds.
func heldBy(cni *libcni.CNIConfig, uuid string) error {
	atts, err := cni.GetCachedAttachments(uuid)
	if err != nil {
		return fmt.Errorf("attaching networks: reading the network cache: %w", err)
	}
	if len(atts) > 0 {
		var names []string
		for _, a := range atts {
			names = append(names, a.Network)
		}
		return errdefs.New(errdefs.ErrBusy, "attaching networks: pod %s already holds %s: detach it first", uuid, strings.Join(names, ", "))
	}
	return nil
}

// prepare loads the networks of spec, checks that their plugins exist and
// finds the one that forwards ports (-1 if none is asked).
func (e Env) prepare(spec Spec, ports []PortMap) ([]*libcni.NetworkConfigList, int, error) {
	if len(spec.Networks) == 0 {
		return nil, -1, errdefs.New(errdefs.ErrInvalid, "attaching networks: the spec names no network")
	}
	for _, p := range ports {
		if err := checkPortMap(p); err != nil {
			return nil, -1, err
		}
	}
	portNet := -1
	var lists []*libcni.NetworkConfigList
	for i, n := range spec.Networks {
		list, err := e.load(n.Name)
		if err == nil {
			list, err = e.withDataDir(list)
		}
		if err == nil {
			err = e.checkPlugins(list)
		}
		if err == nil && n.Args["IP"] != "" {
			err = checkInRange(list, n.Args["IP"])
		}
		if err != nil {
			return nil, -1, fmt.Errorf("network %s: %w", n.Name, err)
		}
		if portNet < 0 && hasCapability(list, "portMappings") {
			portNet = i
		}
		lists = append(lists, list)
	}
	if len(ports) == 0 {
		portNet = -1
	} else if portNet < 0 {
		return nil, -1, errdefs.New(errdefs.ErrInvalid, "forwarding ports: no network of the pod (%s) has a plugin with the portMappings capability", spec)
	}
	for i := range lists {
		if i == portNet {
			continue
		}
		list, err := withoutPortsOnly(lists[i])
		if err != nil {
			return nil, -1, fmt.Errorf("network %s: %w", spec.Networks[i].Name, err)
		}
		lists[i] = list
	}
	return lists, portNet, nil
}

// withoutPortsOnly leaves out of list the plugins that only forward ports
// (portmap: the portMappings capability and no other), for a network that
// forwards none: they would have nothing to do, and each costs a plugin's
// start and its iptables calls on join and on leave (about 9 ms of a
// pod's start). The pod leaves the network as it joined it, from CNI's
// cache.
func withoutPortsOnly(list *libcni.NetworkConfigList) (*libcni.NetworkConfigList, error) {
	var raw map[string]any
	if err := json.Unmarshal(list.Bytes, &raw); err != nil {
		return nil, fmt.Errorf("reading its definition: %w", err)
	}
	plugins, _ := raw["plugins"].([]any)
	var kept []any
	for _, p := range plugins {
		plugin, _ := p.(map[string]any)
		caps, _ := plugin["capabilities"].(map[string]any)
		if len(caps) == 1 && caps["portMappings"] == true {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 || len(kept) == len(plugins) {
		return list, nil
	}
	raw["plugins"] = kept
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("writing its definition: %w", err)
	}
	return libcni.ConfListFromBytes(b)
}

func runtimeConf(uuid, netns string, i int, n Net) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: uuid, NetNS: netns, IfName: "eth" + strconv.Itoa(i)}
	if len(n.Args) > 0 {
		// CNI_ARGS go to every plugin of the list, and a plugin refuses a
		// key it does not know unless told to ignore them.
		if _, ok := n.Args["IgnoreUnknown"]; !ok {
			rt.Args = append(rt.Args, [2]string{"IgnoreUnknown", "1"})
		}
		for _, k := range slices.Sorted(maps.Keys(n.Args)) {
			rt.Args = append(rt.Args, [2]string{k, n.Args[k]})
		}
	}
	return rt
}

// undo deletes, last first, the networks of lists added (or half added)
// with rts.
func undo(ctx context.Context, cni *libcni.CNIConfig, lists []*libcni.NetworkConfigList, rts []*libcni.RuntimeConf) error {
	var errs []string
	for i := len(lists) - 1; i >= 0; i-- {
		if err := cni.DelNetworkList(ctx, lists[i], rts[i]); err != nil {
			errs = append(errs, fmt.Sprintf("network %s: %s", lists[i].Name, oneLine(err)))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// addError is the text of a failed ADD, without libcni's framing.
func addError(err error) string {
	var perr *types.Error
	if errors.As(err, &perr) {
		msg := perr.Msg
		if perr.Details != "" {
			msg += ": " + perr.Details
		}
		return strings.Join(strings.Fields(msg), " ")
	}
	return oneLine(err)
}

// withDataDir gives every host-local ipam of list without a dataDir the
// data directory's, so that reservations live there.
func (e Env) withDataDir(list *libcni.NetworkConfigList) (*libcni.NetworkConfigList, error) {
	var raw map[string]any
	if err := json.Unmarshal(list.Bytes, &raw); err != nil {
		return nil, fmt.Errorf("reading its definition: %w", err)
	}
	plugins, _ := raw["plugins"].([]any)
	changed := false
	for _, p := range plugins {
		plugin, _ := p.(map[string]any)
		ipam, _ := plugin["ipam"].(map[string]any)
		if ipam == nil || ipam["type"] != "host-local" {
			continue
		}
		if dir, _ := ipam["dataDir"].(string); dir == "" {
			ipam["dataDir"] = e.networksDir()
			changed = true
		}
	}
	if !changed {
		return list, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("writing its definition: %w", err)
	}
	return libcni.ConfListFromBytes(b)
}

// installHint ends the refusal of a missing plugin: what to do about it.
const installHint = " (apt-get install containernetworking-plugins, or give the pod --net=none or --net=host)"

// checkPlugins makes sure every plugin of list is installed.
func (e Env) checkPlugins(list *libcni.NetworkConfigList) error {
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, e.PluginDirs); err != nil {
			return errdefs.New(errdefs.ErrNotFound, "plugin %q is not installed in %s%s", p.Network.Type, strings.Join(e.PluginDirs, ":"), installHint)
		}
		if p.Network.IPAM.Type == "" {
			continue
		}
		if _, err := invoke.FindInPath(p.Network.IPAM.Type, e.PluginDirs); err != nil {
			return errdefs.New(errdefs.ErrNotFound, "ipam plugin %q is not installed in %s%s", p.Network.IPAM.Type, strings.Join(e.PluginDirs, ":"), installHint)
		}
	}
	return nil
}

// checkInRange refuses a fixed address (IP=) outside every subnet of the
// host-local ipam of list. Other ipam plugins judge it themselves.
func checkInRange(list *libcni.NetworkConfigList, ip string) error {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return errdefs.New(errdefs.ErrInvalid, "IP=%s is not an IP address", ip)
	}
	var subnets []string
	for _, p := range list.Plugins {
		var c struct {
			IPAM struct {
				Type   string                `json:"type"`
				Subnet string                `json:"subnet"`
				Ranges [][]map[string]string `json:"ranges"`
			} `json:"ipam"`
		}
		if json.Unmarshal(p.Bytes, &c) != nil || c.IPAM.Type != "host-local" {
			continue
		}
		if c.IPAM.Subnet != "" {
			subnets = append(subnets, c.IPAM.Subnet)
		}
		for _, set := range c.IPAM.Ranges {
			for _, r := range set {
				subnets = append(subnets, r["subnet"])
			}
		}
	}
	for _, s := range subnets {
		if p, err := netip.ParsePrefix(s); err != nil || p.Contains(addr) {
			return nil // a range host-local will judge, or the one
		}
	}
	if len(subnets) == 0 {
		return nil
	}
	return errdefs.New(errdefs.ErrInvalid, "IP=%s is outside the network's address range (%s)", ip, strings.Join(subnets, ", "))
}

func hasCapability(list *libcni.NetworkConfigList, c string) bool {
	for _, p := range list.Plugins {
		if p.Network.Capabilities[c] {
			return true
		}
	}
	return false
}

// attachment reads the interface ifname and its address from the result
// of an ADD. An IPv4 address is preferred.
func attachment(network, ifname string, res types.Result) (Attachment, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return Attachment{}, fmt.Errorf("reading the plugins' result: %w", err)
	}
	a := Attachment{Network: network, Interface: ifname}
	idx := -1
	for i, iface := range r.Interfaces {
		if iface.Name == ifname && iface.Sandbox != "" {
			idx, a.MAC = i, iface.Mac
		}
	}
	var ips []*types100.IPConfig
	for _, ipc := range r.IPs {
		if idx < 0 || ipc.Interface == nil || *ipc.Interface == idx {
			ips = append(ips, ipc)
		}
	}
	if len(ips) == 0 {
		return Attachment{}, errors.New("the plugins gave the pod no address")
	}
	pick := ips[0]
	for _, ipc := range ips {
		if ipc.Address.IP.To4() != nil {
			pick = ipc
			break
		}
	}
	a.Address = pick.Address.String()
	if pick.Gateway != nil {
		a.Gateway = pick.Gateway.String()
	}
	return a, nil
}

func checkPortMap(p PortMap) error {
	switch {
	case p.HostPort < 1 || p.HostPort > 65535:
		return errdefs.New(errdefs.ErrInvalid, "forwarding ports: host port %d is out of 1-65535", p.HostPort)
	case p.PodPort < 1 || p.PodPort > 65535:
		return errdefs.New(errdefs.ErrInvalid, "forwarding ports: pod port %d is out of 1-65535", p.PodPort)
	case p.Protocol != "tcp" && p.Protocol != "udp":
		return errdefs.New(errdefs.ErrInvalid, "forwarding ports: protocol %q is neither tcp nor udp", p.Protocol)
	}
	if p.HostIP != "" {
		if _, err := netip.ParseAddr(p.HostIP); err != nil {
			return errdefs.New(errdefs.ErrInvalid, "forwarding ports: host address %q is not an IP address", p.HostIP)
		}
	}
	return nil
}

func portMappings(ports []PortMap) []portMapping {
	out := make([]portMapping, 0, len(ports))
	for _, p := range ports {
		out = append(out, portMapping{HostPort: p.HostPort, ContainerPort: p.PodPort, Protocol: p.Protocol, HostIP: p.HostIP})
	}
	return out
}

// lock takes the lock DATA/cni/NAME, creating it; what says what it is
// held for, in errors. The returned func releases it.
func (e Env) lock(name, what string) (func(), error) {
	if err := os.MkdirAll(datadir.CNIDir(e.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	f, err := os.OpenFile(filepath.Join(datadir.CNIDir(e.DataDir), name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := flock.Lock(f, flock.Exclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return func() { f.Close() }, nil
}

// checkPorts refuses a host port that another pod forwards or that a
// process of the host listens on: portmap's rules would hide the one or
// the other.
func (e Env) checkPorts(uuid string, ports []PortMap) error {
	held, err := e.portsHeld(uuid)
	if err != nil {
		return err
	}
	for _, p := range ports {
		for _, h := range held {
			if h.port.HostPort == p.HostPort && h.port.Protocol == p.Protocol &&
				(h.port.HostIP == "" || p.HostIP == "" || h.port.HostIP == p.HostIP) {
				return errdefs.New(errdefs.ErrBusy, "host port %d/%s is already forwarded to pod %s", p.HostPort, p.Protocol, h.pod)
			}
		}
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		var err error
		if p.Protocol == "tcp" {
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				err = l.Close()
			}
		} else {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", addr); err == nil {
				err = c.Close()
			}
		}
		if err != nil {
			return errdefs.New(errdefs.ErrBusy, "host port %d/%s is already taken: %s", p.HostPort, p.Protocol, oneLine(err))
		}
	}
	return nil
}

type heldPort struct {
	pod  string
	port portMapping
}

// portsHeld lists the host ports the pods other than uuid forward.
func (e Env) portsHeld(uuid string) ([]heldPort, error) {
	cni := libcni.NewCNIConfigWithCacheDir(e.PluginDirs, e.cacheDir(), nil)
	atts, err := cni.GetCachedAttachments("")
	if err != nil {
		return nil, fmt.Errorf("reading the network cache: %w", err)
	}
	var out []heldPort
	for _, a := range atts {
		raw, ok := a.CapabilityArgs["portMappings"]
		if !ok || a.ContainerID == uuid {
			continue
		}
		b, err := json.Marshal(raw)
		var pms []portMapping
		if err == nil {
			err = json.Unmarshal(b, &pms)
		}
		if err != nil {
			continue // not ours to judge: portmap reads it
		}
		for _, pm := range pms {
			out = append(out, heldPort{pod: a.ContainerID, port: pm})
		}
	}
	return out, nil
}
