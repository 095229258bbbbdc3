// Package network joins pods to CNI networks, through libcni and the
// plugins installed in /usr/lib/cni, and writes the resolv.conf and hosts
// files a pod's apps see.
//
// A pod asks for a Spec (--net): the default network, none (a namespace of
// its own with only loopback), host (the host's namespace), or named
// networks, joined in order as eth0, eth1... Networks are defined by the
// *.conf and *.conflist files of the configuration folder
// (/etc/podctl/net.d, or $PODCTL_NET_DIR), known by their name field, the
// first file winning; the default network is built in (DefaultConfList)
// unless a file default.conf or default.conflist replaces it.
//
// What the package keeps, under the data directory:
//
//	cni/cache/results/<net>-<uuid>-<if>  libcni's record of one attachment: the
//	                                     definition used, the namespace, the
//	                                     arguments and ports, the plugins' result.
//	                                     Detach and Release read it, so a pod is
//	                                     released as it was joined whatever the
//	                                     definition files say since.
//	cni/networks/<net>/<address>         host-local's reservation: the pod's UUID
//	                                     and interface, one a line; lock is its lock
//	cni/ports.lock                       flock held while host ports are checked
//	                                     and forwarded
//	netns/<uuid>                         the pod's network namespace, bind-mounted
//
// The pod UUID is the CNI container ID. An attachment is cached only once
// all the plugins of its network succeeded; a failed Attach deletes what it
// added, so that nothing is left half set up. A pod whose stage1 was killed,
// or a host that rebooted, leaves cache entries and reservations behind:
// Release, run by gc, deletes them for the pods that are no longer live.
package network
