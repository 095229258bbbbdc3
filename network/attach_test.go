package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/google/uuid"
)

func TestAttachBridge(t *testing.T) {
	t.Parallel()
	env, tn := newTestEnv(t, 1)
	id, netns := newPod(t, env)
	atts := attach(t, env, id, netns, []string{tn.name}, nil)
	if len(atts) != 1 || atts[0].Network != tn.name || atts[0].Interface != "eth0" || atts[0].Gateway != tn.gateway() || atts[0].MAC == "" {
		t.Fatalf("attachments %+v", atts)
	}
	ip := addrIP(t, atts[0].Address)
	if !netip.MustParsePrefix(tn.subnet()).Contains(netip.MustParseAddr(ip)) {
		t.Fatalf("address %s is outside %s", ip, tn.subnet())
	}
	if out := run(t, "nsenter", "--net="+netns, "ip", "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, atts[0].Address) {
		t.Errorf("eth0 has not %s: %s", atts[0].Address, out)
	}
	if out := run(t, "nsenter", "--net="+netns, "ip", "route", "show", "default"); !strings.Contains(out, "via "+tn.gateway()+" dev eth0") {
		t.Errorf("no default route via the gateway: %q", out)
	}

	// The host reaches the pod, and the pod the host's gateway address.
	listenIn(t, netns, ":7001")
	if err := hello(net.JoinHostPort(ip, "7001")); err != nil {
		t.Errorf("host to pod: %v", err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(tn.gateway(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go serveHello(l)
	if err := inNetNS(netns, func() error { return hello(l.Addr().String()) }); err != nil {
		t.Errorf("pod to gateway: %v", err)
	}

	spec := Spec{Mode: ModeNamed, Networks: []Net{{Name: tn.name}}}
	if _, err := env.Attach(context.Background(), id, netns, spec, nil); err == nil || !strings.Contains(err.Error(), "already holds "+tn.name) {
		t.Errorf("attaching twice: %v", err)
	}
	reservation := filepath.Join(env.networksDir(), tn.name, ip)
	// Release reads the holder of a reservation from its first line.
	if b, err := os.ReadFile(reservation); err != nil {
		t.Errorf("no reservation: %v", err)
	} else if first, _, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(first) != id {
		t.Errorf("reservation holds %q; want %s on the first line", b, id)
	}
	// No port is forwarded: portmap, which would have nothing to do, is
	// left out of the network the pod joined (and leaves).
	cached, err := libcni.NewCNIConfigWithCacheDir(env.PluginDirs, env.cacheDir(), nil).GetCachedAttachments(id)
	if err != nil || len(cached) != 1 {
		t.Errorf("cache entries for the pod: %v, %v", cached, err)
	}
	for _, a := range cached {
		if strings.Contains(string(a.Config), "portmap") {
			t.Errorf("a pod that forwards no port joined portmap too: %s", a.Config)
		}
	}
	if held, err := env.Held(); err != nil || len(held) != 1 || held[0] != id {
		t.Errorf("Held() = %v, %v; want [%s]", held, err, id)
	}
	if err := env.Detach(context.Background(), id, netns); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, env, tn, id, []string{ip})
	if _, err := os.Stat(reservation); !os.IsNotExist(err) {
		t.Errorf("reservation left: %v", err)
	}
	if err := env.Detach(context.Background(), id, netns); err != nil {
		t.Errorf("a second Detach: %v", err)
	}
}

func TestTwoPodsReachEachOther(t *testing.T) {
	t.Parallel()
	env, tn := newTestEnv(t, 2)
	// The network as a single-plugin .conf file, which sorts first and
	// wins over the conflist of the same name.
	writeConf(t, env, "05-"+tn.name+".conf", fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "type": "bridge",
		"bridge": %q, "isGateway": true, "ipMasq": false,
		"ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]]}}`, tn.name, tn.bridge, tn.subnet()))
	idA, nsA := newPod(t, env)
	idB, nsB := newPod(t, env)
	a := attach(t, env, idA, nsA, []string{tn.name}, nil)
	// B asks for a fixed address.
	b := attach(t, env, idB, nsB, []string{tn.name + ":IP=10.213.2.50"}, nil)
	ipA, ipB := addrIP(t, a[0].Address), addrIP(t, b[0].Address)
	if ipA == ipB || b[0].Address != "10.213.2.50/24" {
		t.Fatalf("pods have %s and %s; want B on 10.213.2.50/24", a[0].Address, b[0].Address)
	}
	listenIn(t, nsA, ":7002")
	if err := inNetNS(nsB, func() error { return hello(net.JoinHostPort(ipA, "7002")) }); err != nil {
		t.Errorf("pod B to pod A: %v", err)
	}
	for _, p := range []struct{ id, ns string }{{idA, nsA}, {idB, nsB}} {
		if err := env.Detach(context.Background(), p.id, p.ns); err != nil {
			t.Fatal(err)
		}
	}
	checkNothingLeft(t, env, tn, idA, []string{ipA})
	checkNothingLeft(t, env, tn, idB, []string{ipB})
}

func TestPortForward(t *testing.T) {
	t.Parallel()
	env, tn := newTestEnv(t, 3)
	id, netns := newPod(t, env)
	port := freePort(t)
	ports := []PortMap{{HostPort: port, PodPort: 80, Protocol: "tcp"}}
	atts := attach(t, env, id, netns, []string{tn.name}, ports)
	ip := addrIP(t, atts[0].Address)
	listenIn(t, netns, ":80")
	if err := hello(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("host port %d to the pod's 80: %v", port, err)
	}
	if !mentions(iptablesSave(t), fmt.Sprint(port)) {
		t.Errorf("no rule forwards port %d", port)
	}

	// Another pod cannot have the same port.
	id2, netns2 := newPod(t, env)
	spec := Spec{Mode: ModeNamed, Networks: []Net{{Name: tn.name}}}
	_, err := env.Attach(context.Background(), id2, netns2, spec, []PortMap{{HostPort: port, PodPort: 80, Protocol: "tcp"}})
	want := fmt.Sprintf("network %s: host port %d/tcp is already forwarded to pod %s", tn.name, port, id)
	if err == nil || err.Error() != want {
		t.Errorf("a second pod on the port: %v; want %s", err, want)
	}

	if err := env.Detach(context.Background(), id, netns); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, env, tn, id, []string{ip}, ports...)
}

func TestConcurrentAttach(t *testing.T) {
	t.Parallel()
	env, tn := newTestEnv(t, 4)
	const n = 20
	ids, nss := make([]string, n), make([]string, n)
	for i := range n {
		ids[i], nss[i] = newPod(t, env)
	}
	addrs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := Spec{Mode: ModeNamed, Networks: []Net{{Name: tn.name}}}
			atts, err := env.Attach(context.Background(), ids[i], nss[i], spec, nil)
			if errs[i] = err; err == nil {
				addrs[i] = atts[0].Address
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("pod %d: %v", i, errs[i])
		} else if seen[addrs[i]] {
			t.Errorf("address %s given twice", addrs[i])
		}
		seen[addrs[i]] = true
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = env.Detach(context.Background(), ids[i], nss[i])
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("detaching pod %d: %v", i, errs[i])
		}
	}
	entries, err := os.ReadDir(filepath.Join(env.networksDir(), tn.name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			t.Errorf("reservation %s left", e.Name())
		}
	}
	if held, err := env.Held(); err != nil || len(held) != 0 {
		t.Errorf("Held() = %v, %v after every Detach", held, err)
	}
}

func TestRelease(t *testing.T) {
	t.Parallel()
	env, tn := newTestEnv(t, 5)
	id, netns := newPod(t, env)
	port := freePort(t)
	ports := []PortMap{{HostPort: port, PodPort: 80, Protocol: "udp"}}
	atts := attach(t, env, id, netns, []string{tn.name}, ports)
	ip := addrIP(t, atts[0].Address)
	// The pod dies with its namespace.
	if err := env.RemoveNetNS(id); err != nil {
		t.Fatal(err)
	}
	// Another's stage1 is killed: its namespace is still there.
	id2, netns2 := newPod(t, env)
	ip2 := addrIP(t, attach(t, env, id2, netns2, []string{tn.name}, nil)[0].Address)
	// Reservations from before a reboot: one of a dead pod, one of a live one.
	dir := filepath.Join(env.networksDir(), tn.name)
	dead, live := "0dead000-0000-4000-8000-000000000000", "0a11e000-0000-4000-8000-000000000000"
	for addr, holder := range map[string]string{"10.213.5.200": dead, "10.213.5.201": live} {
		if err := os.WriteFile(filepath.Join(dir, addr), []byte(holder+"\r\neth0"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	released, err := env.Release(context.Background(), func(u string) bool { return u == live })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{dead, id, id2}
	sort.Strings(want)
	if strings.Join(released, " ") != strings.Join(want, " ") {
		t.Errorf("released %v; want %v", released, want)
	}
	checkNothingLeft(t, env, tn, id, []string{ip}, ports...)
	checkNothingLeft(t, env, tn, id2, []string{ip2})
	if _, err := os.Stat(netns2); !os.IsNotExist(err) {
		t.Errorf("the namespace of a dead pod is left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "10.213.5.200")); !os.IsNotExist(err) {
		t.Errorf("stale reservation of a dead pod left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "10.213.5.201")); err != nil {
		t.Errorf("reservation of a live pod removed: %v", err)
	}
	if again, err := env.Release(context.Background(), func(u string) bool { return u == live }); err != nil || len(again) != 0 {
		t.Errorf("a second Release: %v, %v", again, err)
	}
}

// The masquerading rules of a pod whose namespace is gone are found by
// their comment. The rules made here only accept: nothing masquerades.
func TestDropMasq(t *testing.T) {
	t.Parallel()
	needRoot(t)
	id := "7e570000-0000-4000-8000-000000000000"
	chain := "CNI-podctltest-dropmasq"
	comment := fmt.Sprintf("name: %q id: %q", "testnet99", id)
	ipt := func(args ...string) { run(t, "iptables", append([]string{"-w", "-t", "nat"}, args...)...) }
	ipt("-N", chain)
	ipt("-A", chain, "-d", "10.213.99.0/24", "-m", "comment", "--comment", comment, "-j", "ACCEPT")
	ipt("-A", "POSTROUTING", "-s", "10.213.99.7/32", "-m", "comment", "--comment", comment, "-j", chain)
	if err := dropMasq(context.Background(), "testnet99", id); err != nil {
		t.Fatal(err)
	}
	if rules := iptablesSave(t); strings.Contains(rules, id) || strings.Contains(rules, chain) {
		_ = exec.Command("iptables", "-t", "nat", "-D", "POSTROUTING", "-s", "10.213.99.7/32", "-m", "comment", "--comment", comment, "-j", chain).Run()
		_ = exec.Command("iptables", "-t", "nat", "-F", chain).Run()
		_ = exec.Command("iptables", "-t", "nat", "-X", chain).Run()
		t.Errorf("rules left: %s", rules)
	}
}

// A pod attached through a process's namespace (native's /proc/PID/ns/net)
// is detached without it: by then the pid may be another process's, and a
// DEL there would take that namespace's interface of the pod's name. Here
// the process still lives, in its namespace: its eth0 must stay, while the
// address is released.
func TestDetachIgnoresCachedProcNamespace(t *testing.T) {
	t.Parallel()
	env, tn := newTestEnv(t, 8)
	holder := exec.Command("unshare", "--net", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	netns := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	own, _ := os.Readlink("/proc/self/ns/net")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, _ := os.Readlink(netns); l != "" && l != own {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder never had a network namespace of its own")
		}
	}
	id := uuid.NewString()
	atts := attach(t, env, id, netns, []string{tn.name}, nil)
	ip := addrIP(t, atts[0].Address)
	if err := env.Detach(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nsenter", "--net="+netns, "ip", "link", "show", "eth0").CombinedOutput(); err != nil {
		t.Errorf("Detach without a namespace went into the cached /proc one and removed its eth0: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(env.networksDir(), tn.name, ip)); !os.IsNotExist(err) {
		t.Errorf("the address %s is still reserved: %v", ip, err)
	}
}

// Releases of one pod at once (stage1, a forced stop, rm, gc) all succeed,
// one after the other: the second finds nothing left to release.
func TestConcurrentDetach(t *testing.T) {
	t.Parallel()
	env, tn := newTestEnv(t, 9)
	id, netns := newPod(t, env)
	ip := addrIP(t, attach(t, env, id, netns, []string{tn.name}, nil)[0].Address)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() { errs <- env.Detach(context.Background(), id, netns) }()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Errorf("a Detach beside others: %v", err)
		}
	}
	checkNothingLeft(t, env, tn, id, []string{ip})
}
