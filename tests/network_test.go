package tests

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The networks every pod of these tests joins: defined in a folder of the
// tests' own ($PODCTL_NET_DIR), on bridges and in ranges the tests give
// to the namespaces of the pods they start, and without masquerading:
// the tests never talk to, nor masquerade toward, any other address. The
// ranges' reservations are shared by every test's data directory, so that
// two tests' pods on one bridge never get the same address. Two runs of
// the tests at once (a CI run beside a developer's) take different slots
// (netSlot), each with bridges and ranges of its own.
var (
	testBridge, testSubnet, testGateway    string
	otherBridge, otherSubnet, otherFixedIP string
)

const (
	otherNetwork = "e2e-other"
	// outsideOtherNet is outside every range (TEST-NET-1): a fixed
	// address that is refused before any plugin runs.
	outsideOtherNet = "192.0.2.7"
)

// netSlot takes the first of 16 slots no other run of the tests holds,
// for as long as this process lives, and names the networks after it.
func netSlot() error {
	for k := 0; k < 16; k++ {
		f, err := os.OpenFile(fmt.Sprintf("/tmp/podctl-e2e-net-%d.lock", k), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		// Kept open, and so locked, until the process ends.
		slotLock = f
		testBridge, otherBridge = fmt.Sprintf("podctle2e%d", k), fmt.Sprintf("podctle2o%d", k)
		testSubnet, testGateway = fmt.Sprintf("10.214.%d.0/20", 16*k), fmt.Sprintf("10.214.%d.1", 16*k)
		otherSubnet, otherFixedIP = fmt.Sprintf("10.215.%d.0/24", k), fmt.Sprintf("10.215.%d.77", k)
		return nil
	}
	return errors.New("every network slot of the tests is taken: are 16 runs going on?")
}

var slotLock *os.File

// ipForward is the host's net.ipv4.ip_forward before the tests, which the
// bridge plugin turns on for a gateway; removeTestBridges puts it back.
var ipForward []byte

const ipForwardFile = "/proc/sys/net/ipv4/ip_forward"

func writeTestNetworks(work string) error {
	if err := netSlot(); err != nil {
		return err
	}
	ipForward, _ = os.ReadFile(ipForwardFile)
	dir := filepath.Join(work, "net.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ipam := filepath.Join(work, "cni-ipam")
	conflist := func(name, bridge, subnet string) string {
		return fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
]}`, name, bridge, ipam, subnet)
	}
	files := map[string]string{
		"default.conflist":  conflist("default", testBridge, testSubnet),
		"20-other.conflist": conflist(otherNetwork, otherBridge, otherSubnet),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return os.Setenv("PODCTL_NET_DIR", dir)
}

// removeTestBridges removes the bridges the tests' pods made, and puts
// the host's forwarding back as it was.
func removeTestBridges() {
	for _, b := range []string{testBridge, otherBridge} {
		exec.Command("ip", "link", "del", b).Run()
	}
	if len(ipForward) > 0 {
		os.WriteFile(ipForwardFile, ipForward, 0o644)
	}
}

// startNetPod starts a pod as startPod does, and stops it when the test
// ends: a pod left running would keep its network, and its namespace
// file busy in the test's data directory.
func startNetPod(t *testing.T, e *env, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd, uuid := e.startPod(args...)
	t.Cleanup(func() {
		e.podctl("stop", "--force", uuid)
		cmd.Wait()
	})
	return cmd, uuid
}

// podAddress is the address of the pod's first network, without its
// prefix length.
func podAddress(t *testing.T, e *env, uuid string) (string, string) {
	t.Helper()
	st := e.status(uuid)
	if len(st.Networks) == 0 {
		t.Fatalf("pod %s shows no network in status", uuid)
	}
	ip, _, _ := strings.Cut(st.Networks[0].Address, "/")
	return ip, st.Networks[0].Gateway
}

// dialRead connects to addr and reads what is sent, retrying while the
// listener comes up (generous: a loaded machine is slow).
func dialRead(t *testing.T, addr string) string {
	t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			last = err
			continue
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err == nil && len(b) > 0 {
			return string(b)
		}
		last = fmt.Errorf("read %q, %v", b, err)
	}
	t.Fatalf("connecting to %s: %v", addr, last)
	return ""
}

// server is the app that answers every TCP connection on port with word.
func server(port int, word string) []string {
	return []string{"example.com/busybox", "--exec", "/bin/busybox", "--", "nc", "-ll", "-p", strconv.Itoa(port), "-e", "/bin/echo", word}
}

// A pod on the default network: an address in its range, reached from the
// host, and the host's side of its link reached from the pod; its network
// in status and list.
func TestNetworkDefault(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		_, uuid := startNetPod(t, e, server(8080, "hello")...)
		ip, gw := podAddress(t, e, uuid)
		_, subnet, _ := net.ParseCIDR(testSubnet)
		if !subnet.Contains(net.ParseIP(ip)) || gw != testGateway {
			t.Fatalf("pod address %s, gateway %s: want one in %s through %s", ip, gw, testSubnet, testGateway)
		}
		if got := dialRead(t, net.JoinHostPort(ip, "8080")); got != "hello\n" {
			t.Fatalf("the pod answered %q", got)
		}
		// The pod reaches the host's side of its link.
		ln, err := net.Listen("tcp", net.JoinHostPort(testGateway, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, "from-host\n")
				c.Close()
			}
		}()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if r := e.enterUntilOutput(uuid, "/bin/busybox", "nc", "-w", "5", testGateway, port); !strings.Contains(r.stdout, "from-host") {
			t.Fatalf("the pod did not reach the host at %s: %s", testGateway, r)
		}
		if out := e.must("list", "--no-legend"); !strings.Contains(out, "default:"+ip) {
			t.Fatalf("list does not show default:%s:\n%s", ip, out)
		}
	})
}

// Two pods on one network reach each other.
func TestNetworkPodToPod(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		_, a := startNetPod(t, e, server(8081, "from-a")...)
		_, b := startNetPod(t, e, "example.com/busybox", "--exec", "/bin/sleep", "--", "600")
		ipA, _ := podAddress(t, e, a)
		if r := e.enterUntilOutput(b, "/bin/busybox", "nc", "-w", "5", ipA, "8081"); !strings.Contains(r.stdout, "from-a") {
			t.Fatalf("pod b did not reach pod a at %s: %s", ipA, r)
		}
	})
}

// --net=none has only lo; --net=host sees the host's interfaces; named
// networks join in order, with a fixed address.
func TestNetworkModes(t *testing.T) {
	hostIfs := func() string {
		out, err := exec.Command("ls", "/sys/class/net").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(string(out)), " ")
	}
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		ls := []string{"example.com/busybox", "--exec", "/bin/ls", "--", "/sys/class/net"}
		if out := strings.Join(strings.Fields(e.must(append([]string{"run", "--net=none"}, ls...)...)), " "); out != "lo" {
			t.Errorf("--net=none sees %q, want lo alone", out)
		}
		// Other tests' pods add and remove veths meanwhile: the host's
		// other interfaces are what must be seen.
		out := " " + strings.Join(strings.Fields(e.must(append([]string{"run", "--net=host"}, ls...)...)), " ") + " "
		for _, name := range strings.Fields(hostIfs()) {
			if !strings.HasPrefix(name, "veth") && !strings.HasPrefix(name, "podctl") && !strings.Contains(out, " "+name+" ") {
				t.Errorf("--net=host does not see the host's %s: it sees%s", name, out)
			}
		}
		out = e.must("run", "--net=default", "--net="+otherNetwork+":IP="+otherFixedIP, "example.com/busybox", "--exec", "/bin/busybox", "--", "ip", "-4", "-o", "addr")
		if !strings.Contains(out, "eth0") || !strings.Contains(out, "eth1") || !strings.Contains(out, otherFixedIP+"/") {
			t.Errorf("two networks, the second at %s: ip addr says\n%s", otherFixedIP, out)
		}
	})
}

// A forwarded host port reaches the app, by number and by the name of a
// port the image declares.
func TestNetworkPorts(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		hostPort := freePort(t)
		args := append([]string{"--port=127.0.0.1:" + strconv.Itoa(hostPort) + ":8082"}, server(8082, "forwarded")...)
		_, uuid := startNetPod(t, e, args...)
		if got := dialRead(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))); got != "forwarded\n" {
			t.Fatalf("the forwarded port answered %q", got)
		}
		// From another pod too, through the host's address on their
		// bridge (the pods' gateway), back to the first pod.
		gwPort := freePort(t)
		_, fwd := startNetPod(t, e, append([]string{"--port=" + testGateway + ":" + strconv.Itoa(gwPort) + ":8083"}, server(8083, "through-host")...)...)
		_, other := startNetPod(t, e, "example.com/busybox", "--exec", "/bin/sleep", "--", "600")
		if r := e.enterUntilOutput(other, "/bin/busybox", "nc", "-w", "5", testGateway, strconv.Itoa(gwPort)); !strings.Contains(r.stdout, "through-host") {
			t.Fatalf("another pod did not reach the forwarded port %s:%d: %s", testGateway, gwPort, r)
		}
		e.must("stop", fwd)
		e.must("stop", uuid)
		if rules := iptablesMentioning(t, strconv.Itoa(hostPort)); rules != "" {
			t.Fatalf("rules for host port %d left after the pod ended:\n%s", hostPort, rules)
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// iptablesMentioning is every rule of the host that names s.
func iptablesMentioning(t *testing.T, s string) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			lines = append(lines, sc.Text())
		}
	}
	return strings.Join(lines, "\n")
}

// --hostname, --hosts-entry and --dns are what the apps see.
func TestNetworkNames(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		out := e.must("run", "--hostname=web-1", "--hosts-entry=10.214.9.9=db.internal", "--dns=10.214.0.53", "--dns-search=example.test", "--dns-opt=ndots:2",
			"example.com/busybox", "--exec", "/bin/sh", "--", "-c", "hostname; cat /etc/hosts /etc/resolv.conf")
		for _, want := range []string{"web-1\n", "10.214.9.9", "db.internal", "nameserver 10.214.0.53", "search example.test", "options ndots:2"} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in what the app sees:\n%s", want, out)
			}
		}
		if !strings.Contains(out, "web-1") || strings.Count(out, "web-1") < 2 {
			t.Errorf("the pod's /etc/hosts does not name it:\n%s", out)
		}
		if out := e.must("run", "--dns=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "cat /etc/resolv.conf 2>&1; true"); strings.Contains(out, "nameserver") {
			t.Errorf("--dns=none wrote a resolv.conf:\n%s", out)
		}
	})
}

// 20 pods started together get 20 different addresses. The addresses are
// the network package's to give, the same for every flavor; systemd pods,
// each a booted systemd, are 8, so that the test measures the network and
// not what 20 boots at once do to a loaded 2-core machine.
func TestNetworkManyPods(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		n := 20
		if e.flavor == "systemd" {
			n = 8
		}
		var wg sync.WaitGroup
		addrs := make([]string, n)
		errs := make([]string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := e.podctl("run", "example.com/busybox", "--exec", "/bin/busybox", "--", "ip", "-4", "-o", "addr", "show", "eth0")
				if r.code != 0 {
					errs[i] = r.String()
					return
				}
				f := strings.Fields(r.stdout)
				for j, w := range f {
					if w == "inet" && j+1 < len(f) {
						addrs[i] = f[j+1]
					}
				}
			}(i)
		}
		wg.Wait()
		seen := map[string]bool{}
		for i, a := range addrs {
			if errs[i] != "" {
				t.Fatalf("pod %d: %s", i, errs[i])
			}
			if a == "" || seen[a] {
				t.Fatalf("pod %d got address %q; all: %v", i, a, addrs)
			}
			seen[a] = true
		}
	})
}

// Every end of a pod releases what it held: stop, stop --force, and a
// stage1 killed with SIGKILL, then gc. A native pod is stopped once its
// stage1 has become podctl-wait: its end then releases the networks.
func TestNetworkReleased(t *testing.T) {
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.fetchBusybox()
		for _, how := range []string{"stop", "stop --force", "SIGKILL then gc"} {
			cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
			ip, _ := podAddress(t, e, uuid)
			veth := hostVeth(t, e, uuid)
			if e.flavor == "native" {
				waitHandedOver(t, cmd, nil)
			}
			switch how {
			case "stop", "stop --force":
				e.must(append(strings.Fields(how), uuid)...)
				cmd.Wait()
			default:
				cmd.Process.Kill()
				cmd.Wait()
				e.must("gc", "--grace-period=0s")
			}
			checkReleased(t, e, how, uuid, ip)
			if err := exec.Command("ip", "link", "show", veth).Run(); err == nil {
				t.Errorf("after %s, the pod's veth %s is still on the host", how, veth)
			}
		}
	})
}

// hostVeth is the host's end of the veth pair of pod uuid's first
// network, as the bridge plugin's result in CNI's cache names it.
func hostVeth(t *testing.T, e *env, uuid string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.dir, "cni", "cache", "results", "*-"+uuid+"-eth0"))
	if len(files) != 1 {
		t.Fatalf("CNI cache entries of pod %s: %v", uuid, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var entry struct {
		Result struct {
			Interfaces []struct {
				Name    string `json:"name"`
				Sandbox string `json:"sandbox"`
			} `json:"interfaces"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &entry); err != nil {
		t.Fatal(err)
	}
	for _, i := range entry.Result.Interfaces {
		if strings.HasPrefix(i.Name, "veth") && i.Sandbox == "" {
			if err := exec.Command("ip", "link", "show", i.Name).Run(); err != nil {
				t.Fatalf("the pod's veth %s is not on the host: %v", i.Name, err)
			}
			return i.Name
		}
	}
	t.Fatalf("no host veth in the cache entry of pod %s: %s", uuid, b)
	return ""
}

// checkReleased fails unless nothing of pod uuid's network is left: no
// address reservation, no cache entry, no namespace, no rule, no veth
// whose peer is gone.
func checkReleased(t *testing.T, e *env, how, uuid, ip string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left := leftovers(e, uuid, ip)
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, pod %s left %s", how, uuid, left)
		}
	}
}

func leftovers(e *env, uuid, ip string) string {
	reservation := filepath.Join(os.Getenv("PODCTL_NET_DIR"), "..", "cni-ipam", "default", ip)
	if _, err := os.Stat(reservation); err == nil {
		return "its address reservation " + reservation
	}
	if b, _ := exec.Command("grep", "-rl", uuid, filepath.Join(e.dir, "cni")).Output(); len(b) > 0 {
		return "CNI cache entries " + string(b)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "netns", uuid)); err == nil {
		return "its network namespace"
	}
	if out, _ := exec.Command("iptables-save").Output(); strings.Contains(string(out), ip+"/") || strings.Contains(string(out), ip+" ") {
		return "iptables rules naming " + ip
	}
	return ""
}

// Bad network input is refused in one line, and leaves no veth, address,
// rule or namespace behind.
func TestNetworkRefusals(t *testing.T) {
	netDir := t.TempDir()
	defs, err := os.ReadDir(os.Getenv("PODCTL_NET_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		b, err := os.ReadFile(filepath.Join(os.Getenv("PODCTL_NET_DIR"), d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(netDir, d.Name()), b, 0o644)
	}
	os.WriteFile(filepath.Join(netDir, "30-broken.conflist"), []byte(`{"cniVersion": "1.0.0", "name": "broken", "plugins": [`), 0o644)
	os.WriteFile(filepath.Join(netDir, "40-noplugin.conflist"), []byte(`{"cniVersion": "1.0.0", "name": "noplugin", "plugins": [{"type": "nosuchplugin"}]}`), 0o644)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.environ = []string{"PODCTL_NET_DIR=" + netDir}
		e.fetchBusybox()
		for _, tc := range []struct{ flag, want string }{
			{"--net=nosuch", "network nosuch: no such network"},
			{"--net=broken", "does not parse"},
			{"--net=noplugin", `plugin "nosuchplugin"`},
			{"--net=" + otherNetwork + ":IP=" + outsideOtherNet, "is outside the network's address range"},
			{"--port=127.0.0.1:" + takenPort + ":80", "host port " + takenPort + "/tcp is already taken"},
		} {
			before := hostNetworkState(t)
			r := e.podctl("run", tc.flag, "example.com/busybox", "--exec", "/bin/true")
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("%s: want a failure in one line saying %q: %s", tc.flag, tc.want, r)
			}
			if after := hostNetworkState(t); after != before {
				t.Errorf("%s left on the host:\nbefore: %s\nafter:  %s", tc.flag, before, after)
			}
		}
		if b, _ := exec.Command("grep", "-rl", "-e", "10.21", filepath.Join(e.dir, "cni")).Output(); len(b) > 0 {
			t.Errorf("CNI state left after refusals: %s", b)
		}
		if ents, _ := os.ReadDir(filepath.Join(e.dir, "netns")); len(ents) > 0 {
			t.Errorf("network namespaces left after refusals: %v", ents)
		}
	})
}

// hostNetworkState is what a refused pod must not change: this test's
// rules (other tests' pods come and go meanwhile, so veths are counted
// only for this test's own refused pods by their addresses' rules).
func hostNetworkState(t *testing.T) string {
	t.Helper()
	return iptablesMentioning(t, otherSubnet) + iptablesMentioning(t, outsideOtherNet)
}

// --port=NAME:HOSTPORT forwards to the port an image declares: an OCI
// image's ExposedPorts 8080/tcp is its port port-8080-tcp. A name no app
// declares is refused, naming those they do.
func TestNetworkNamedPort(t *testing.T) {
	oci, _, _ := toolImages(t)
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		e.must("fetch", "--insecure-options=image", oci)
		hostPort := strconv.Itoa(freePort(t))
		_, uuid := startNetPod(t, e, "--port=port-8080-tcp:127.0.0.1:"+hostPort, "--insecure-options=image", oci,
			"--user=0", "--group=0", "--exec", "/bin/busybox", "--", "nc", "-ll", "-p", "8080", "-e", "/bin/echo", "named")
		if got := dialRead(t, net.JoinHostPort("127.0.0.1", hostPort)); got != "named\n" {
			t.Fatalf("the named port answered %q", got)
		}
		e.must("stop", uuid)
		r := e.podctl("run", "--port=http:"+hostPort, "--insecure-options=image", oci, "--exec", "/bin/true")
		if r.code == 0 || !strings.Contains(r.stderr, `no app of the pod declares port "http": its apps declare port-8080-tcp`) {
			t.Fatalf("a port no app declares: %s", r)
		}
	})
}
