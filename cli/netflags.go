package cli

import (
	"github.com/spf13/pflag"

	"podctl/stage0"
)

// netFlags are the network flags of run and prepare.
type netFlags struct {
	opts stage0.NetworkOptions
}

func (n *netFlags) add(fs *pflag.FlagSet) {
	ns := &n.opts.NetworkSettings
	fs.StringArrayVar(&ns.Net, "net", nil, "the pod's network: default (a private bridge network), none (loopback only), host (the host's), or NAME[:ARG=VALUE;...][,NAME...] for networks defined in /etc/podctl/net.d (repeatable)")
	fs.StringVar(&ns.Hostname, "hostname", "", "the pod's host name (default podctl- and the start of its UUID)")
	fs.StringArrayVar(&ns.DNS, "dns", nil, "a name server for the pod's /etc/resolv.conf (repeatable), or host (the host's file) or none (no file)")
	fs.StringArrayVar(&ns.DNSSearch, "dns-search", nil, "a search domain for the pod's /etc/resolv.conf (repeatable)")
	fs.StringArrayVar(&ns.DNSOptions, "dns-opt", nil, "an option line of the pod's /etc/resolv.conf, such as ndots:2 (repeatable)")
	fs.StringArrayVar(&ns.HostsEntries, "hosts-entry", nil, "a line of the pod's /etc/hosts, IP=NAME (repeatable)")
	fs.BoolVar(&ns.MDS, "mds-register", false, "serve the pod appc's metadata service on 127.0.0.1 in its own network namespace, at $AC_METADATA_URL in every app (not with --net=host or fly)")
	list(fs, &n.opts.Ports, "port", stage0.ParsePort, "forward a host port: NAME:[HOSTIP:]HOSTPORT to a port an app declares, or [HOSTIP:]HOSTPORT:PODPORT[/udp] (repeatable)")
}
