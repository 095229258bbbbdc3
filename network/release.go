package network

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/google/shlex"

	"podctl/datadir"
	"podctl/internal/flock"
)

// Detach releases every network pod uuid holds, from libcni's cache in
// DATA/cni/cache, last joined first. netns may be "" when the namespace is
// gone; the cached one is used if it is the pod's namespace file and still
// exists (ownNetNS). Nothing cached is no
// error. What fails to be released stays cached, for gc to try again.
func (e Env) Detach(ctx context.Context, uuid, netns string) error {
	if !validName(uuid) {
		return fmt.Errorf("detaching networks: %q is not a pod UUID", uuid)
	}
	if held, err := e.mayHold(uuid); err != nil || !held {
		return err
	}
	// One release at a time: stage1, a forced stop, rm and gc may each
	// release a pod at once, and two DELs of one pod race each other (the
	// second finds the interface the first removed). The one that comes
	// second finds the cache emptied.
	unlock, err := e.lock("detach.lock", "detaching the networks of pod "+uuid)
	if err != nil {
		return err
	}
	defer unlock()
	cni := libcni.NewCNIConfigWithCacheDir(e.PluginDirs, e.cacheDir(), nil)
	atts, err := cni.GetCachedAttachments(uuid)
	if err != nil {
		return fmt.Errorf("detaching the networks of pod %s: reading the cache: %w", uuid, err)
	}
	sort.Slice(atts, func(i, j int) bool { return ifIndex(atts[i].IfName) > ifIndex(atts[j].IfName) })
	var errs []string
	for _, a := range atts {
		if netns == "" {
			netns = e.ownNetNS(uuid, a.NetNS)
		}
		if err := detachOne(ctx, cni, a, netns); err != nil {
			errs = append(errs, fmt.Sprintf("network %s: %s", a.Network, oneLine(err)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("detaching the networks of pod %s: %s", uuid, strings.Join(errs, "; "))
	}
	return nil
}

func detachOne(ctx context.Context, cni *libcni.CNIConfig, a *libcni.NetworkAttachment, netns string) error {
	list, err := libcni.ConfListFromBytes(a.Config)
	if err != nil {
		return fmt.Errorf("reading its cached definition: %w", err)
	}
	alive := netns != "" && isNetNS(netns)
	if !alive {
		netns = ""
	}
	rt := &libcni.RuntimeConf{ContainerID: a.ContainerID, NetNS: netns, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
	if err := cni.DelNetworkList(ctx, list, rt); err != nil {
		return err
	}
	if !alive && masquerades(list) {
		return dropMasq(ctx, list.Name, a.ContainerID)
	}
	return nil
}

// mayHold tells whether CNI's cache may hold networks of pod uuid: a
// cache entry is named NETWORK-UUID-IFNAME. Most pods gc and rm release
// hold none, and libcni reads every entry of the cache to find a pod's:
// the names alone say there is nothing to read.
func (e Env) mayHold(uuid string) (bool, error) {
	names, err := os.ReadDir(filepath.Join(e.cacheDir(), "results"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("detaching the networks of pod %s: reading the cache: %w", uuid, err)
	}
	for _, n := range names {
		if strings.Contains(n.Name(), "-"+uuid+"-") {
			return true, nil
		}
	}
	return false, nil
}

// ownNetNS is the cached namespace of pod uuid if it is the namespace file
// podctl made for that pod (DATA/netns/UUID), else "". Any other path, such
// as a native pod's /proc/PID/ns/net, may name another process's namespace
// by now (the pid reused, perhaps by a host process): a DEL there would
// remove that namespace's interface of the pod's name.
func (e Env) ownNetNS(uuid, cached string) string {
	if cached != "" && cached == filepath.Join(datadir.NetNSDir(e.DataDir), uuid) {
		return cached
	}
	return ""
}

// ifIndex is N of ethN.
func ifIndex(ifname string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(ifname, "eth"))
	if err != nil {
		return -1
	}
	return n
}

// masquerades says whether a plugin of list sets up masquerading (bridge
// and ptp's ipMasq).
func masquerades(list *libcni.NetworkConfigList) bool {
	for _, p := range list.Plugins {
		var c struct {
			IPMasq bool `json:"ipMasq"`
		}
		if json.Unmarshal(p.Bytes, &c) == nil && c.IPMasq {
			return true
		}
	}
	return false
}

// dropMasq removes the NAT rules and chains that bridge or ptp made for
// the pod id on network: their DEL takes the addresses to unmasquerade from
// the interface in the namespace, so it leaves them when the namespace is
// gone. The rules are known by the comment the plugins give them.
func dropMasq(ctx context.Context, network, id string) error {
	comment := fmt.Sprintf("name: %q id: %q", network, id)
	for _, tool := range []string{"iptables", "ip6tables"} {
		out, err := exec.CommandContext(ctx, tool+"-save", "-t", "nat").Output()
		if err != nil && tool == "ip6tables" {
			continue // no IPv6 NAT here: nothing of it to remove
		}
		if err != nil {
			return fmt.Errorf("listing the NAT rules: %s-save: %w", tool, err)
		}
		chains := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "-A ") || !strings.Contains(line, id) {
				continue
			}
			args, err := shlex.Split(strings.TrimPrefix(line, "-A "))
			if err != nil || !hasComment(args, comment) {
				continue
			}
			if strings.HasPrefix(args[0], "CNI-") {
				chains[args[0]] = true
				continue // goes with its chain
			}
			if t := target(args); strings.HasPrefix(t, "CNI-") {
				chains[t] = true
			}
			if err := iptables(ctx, tool, append([]string{"-t", "nat", "-D"}, args...)...); err != nil {
				return err
			}
		}
		for c := range chains {
			if err := iptables(ctx, tool, "-t", "nat", "-F", c); err != nil {
				return err
			}
			if err := iptables(ctx, tool, "-t", "nat", "-X", c); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasComment(args []string, comment string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--comment" && args[i+1] == comment {
			return true
		}
	}
	return false
}

func target(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-j" {
			return args[i+1]
		}
	}
	return ""
}

func iptables(ctx context.Context, tool string, args ...string) error {
	out, err := exec.CommandContext(ctx, tool, append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %s", tool, strings.Join(args, " "), strings.Join(strings.Fields(string(out)), " "))
	}
	return nil
}

// Held lists the pods that hold networks (from the cache), for gc.
func (e Env) Held() ([]string, error) {
	cni := libcni.NewCNIConfigWithCacheDir(e.PluginDirs, e.cacheDir(), nil)
	atts, err := cni.GetCachedAttachments("")
	if err != nil {
		return nil, fmt.Errorf("reading the network cache: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range atts {
		if !seen[a.ContainerID] {
			seen[a.ContainerID] = true
			out = append(out, a.ContainerID)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Release detaches every pod in Held() for which live(uuid) is false and
// removes its network namespace, then recovers the host-local reservations
// in DATA/cni/networks that name a pod neither live nor cached (stale after
// a reboot). It returns the UUIDs released, sorted.
func (e Env) Release(ctx context.Context, live func(uuid string) bool) ([]string, error) {
	if live == nil {
		return nil, errors.New("releasing networks: no way to tell live pods was given")
	}
	held, err := e.Held()
	if err != nil {
		return nil, fmt.Errorf("releasing networks: %w", err)
	}
	released := map[string]bool{}
	var errs []string
	for _, id := range held {
		if live(id) {
			continue
		}
		if err := e.Detach(ctx, id, ""); err != nil {
			errs = append(errs, oneLine(err))
			continue
		}
		released[id] = true
	}
	gone, err := e.removeDeadNetNS(live)
	if err != nil {
		errs = append(errs, oneLine(err))
	}
	for _, id := range gone {
		released[id] = true
	}
	stale, err := e.recoverReservations(live)
	if err != nil {
		errs = append(errs, oneLine(err))
	}
	for _, id := range stale {
		released[id] = true
	}
	out := make([]string, 0, len(released))
	for id := range released {
		out = append(out, id)
	}
	sort.Strings(out)
	if len(errs) > 0 {
		return out, fmt.Errorf("releasing networks: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// removeDeadNetNS removes the network namespaces of pods not live.
func (e Env) removeDeadNetNS(live func(string) bool) ([]string, error) {
	entries, err := os.ReadDir(datadir.NetNSDir(e.DataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing network namespaces: %w", err)
	}
	var gone []string
	for _, ent := range entries {
		if id := ent.Name(); !live(id) {
			if err := e.RemoveNetNS(id); err != nil {
				return gone, err
			}
			gone = append(gone, id)
		}
	}
	return gone, nil
}

// recoverReservations removes the address reservations of every network
// that name a pod neither live nor cached, under host-local's own lock.
func (e Env) recoverReservations(live func(string) bool) ([]string, error) {
	held, err := e.Held()
	if err != nil {
		return nil, err
	}
	cached := map[string]bool{}
	for _, id := range held {
		cached[id] = true
	}
	nets, err := os.ReadDir(e.networksDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing address reservations: %w", err)
	}
	var out []string
	for _, n := range nets {
		if !n.IsDir() {
			continue
		}
		ids, err := recoverIn(filepath.Join(e.networksDir(), n.Name()), func(id string) bool { return live(id) || cached[id] })
		out = append(out, ids...)
		if err != nil {
			return out, fmt.Errorf("recovering the addresses of network %s: %w", n.Name(), err)
		}
	}
	return out, nil
}

// recoverIn removes the reservations of dir whose holder is not kept.
// A reservation is a file named after the address, holding the container
// ID and the interface name, one a line.
func recoverIn(dir string, keep func(string) bool) ([]string, error) {
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := flock.Lock(lock, flock.Exclusive); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ent := range entries {
		if _, err := netip.ParseAddr(ent.Name()); err != nil || !ent.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, ent.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return out, err
		}
		id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		id = strings.TrimSpace(id)
		if id == "" || keep(id) {
			continue
		}
		if err := os.Remove(path); err != nil {
			return out, err
		}
		out = append(out, id)
	}
	return out, nil
}
