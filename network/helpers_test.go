package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"
)

// TestMain puts back the host's IP forwarding, which the bridge plugin
// turns on for a gateway.
func TestMain(m *testing.M) {
	const forward = "/proc/sys/net/ipv4/ip_forward"
	before, err := os.ReadFile(forward)
	code := m.Run()
	if err == nil {
		if err := os.WriteFile(forward, before, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "putting back ip_forward:", err)
		}
	}
	os.Exit(code)
}

// needRoot fails a test that needs root and the plugins without them.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes network namespaces and bridges: run it as root")
	}
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join(PluginDir, p)); err != nil {
			t.Fatalf("CNI plugin %s missing (apt-get install containernetworking-plugins): %v", p, err)
		}
	}
	for _, tool := range []string{"ip", "iptables-save", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (apt-get install iproute2 iptables util-linux): %v", tool, err)
		}
	}
}

// testNet is a bridge network of a test's own: bridge podctltestN on
// 10.213.N.0/24, no masquerading, ports forwarded.
type testNet struct {
	name, bridge string
	n            int
}

func (tn testNet) subnet() string  { return fmt.Sprintf("10.213.%d.0/24", tn.n) }
func (tn testNet) gateway() string { return fmt.Sprintf("10.213.%d.1", tn.n) }

func (tn testNet) conflist() string {
	return fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [
	{"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
	 "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
	{"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}]}`, tn.name, tn.bridge, tn.subnet())
}

// newTestEnv is an Env with its own data dir and a ConfDir holding the
// test network n, whose bridge is removed at the end.
func newTestEnv(t *testing.T, n int) (Env, testNet) {
	t.Helper()
	needRoot(t)
	tn := testNet{name: fmt.Sprintf("testnet%d", n), bridge: fmt.Sprintf("podctltest%d", n), n: n}
	env := Env{DataDir: t.TempDir(), ConfDir: t.TempDir(), PluginDirs: []string{PluginDir}}
	writeConf(t, env, "10-"+tn.name+".conflist", tn.conflist())
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", tn.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("removing bridge %s: %v: %s", tn.bridge, err, out)
		}
	})
	return env, tn
}

func writeConf(t *testing.T, env Env, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(env.ConfDir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newPod makes a network namespace for a new pod UUID, removed at the end.
func newPod(t *testing.T, env Env) (id, netns string) {
	t.Helper()
	id = uuid.NewString()
	netns, err := env.NewNetNS(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.RemoveNetNS(id); err != nil {
			t.Error(err)
		}
	})
	return id, netns
}

// inNetNS runs fn on a thread moved to the network namespace at path.
// Sockets fn opens stay in that namespace.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := func() error {
			orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
			if err != nil {
				return err
			}
			defer orig.Close()
			target, err := os.Open(path)
			if err != nil {
				return err
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				return err
			}
			ferr := fn()
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
				return errors.Join(ferr, err) // the thread stays locked and ends
			}
			runtime.UnlockOSThread()
			return ferr
		}()
		errc <- err
	}()
	return <-errc
}

// listenIn listens on addr in the namespace netns and answers every
// connection with "hello".
func listenIn(t *testing.T, netns, addr string) {
	t.Helper()
	var l net.Listener
	err := inNetNS(netns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go serveHello(l)
}

func serveHello(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = io.WriteString(c, "hello\n")
		c.Close()
	}
}

// hello connects to addr and expects "hello".
func hello(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading from %s: %w", addr, err)
	}
	if line != "hello\n" {
		return fmt.Errorf("%s answered %q", addr, line)
	}
	return nil
}

var execCommand = exec.Command

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// addrIP is the address of a CIDR.
func addrIP(t *testing.T, cidr string) string {
	t.Helper()
	ip, _, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatalf("address %q: %v", cidr, err)
	}
	return ip.String()
}

// mentions matches an address or a port as a whole word.
func mentions(text, word string) bool {
	return regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(word) + `($|[^0-9])`).MatchString(text)
}

// checkNothingLeft fails if pod id holds anything: a cache entry, a
// reservation, a veth on the bridge, an iptables rule naming it, its
// address or one of the ports.
func checkNothingLeft(t *testing.T, env Env, tn testNet, id string, addrs []string, ports ...PortMap) {
	t.Helper()
	held, err := env.Held()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		if h == id {
			t.Errorf("pod %s is still cached", id)
		}
	}
	results, _ := os.ReadDir(filepath.Join(env.cacheDir(), "results"))
	for _, r := range results {
		if strings.Contains(r.Name(), id) {
			t.Errorf("cache entry %s left", r.Name())
		}
	}
	_ = filepath.WalkDir(env.networksDir(), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), id) {
				t.Errorf("reservation %s left", path)
			}
		}
		return nil
	})
	if out, err := exec.Command("ip", "-o", "link", "show", "master", tn.bridge).CombinedOutput(); err == nil && strings.TrimSpace(string(out)) != "" {
		t.Errorf("interfaces left on %s: %s", tn.bridge, out)
	}
	rules := iptablesSave(t)
	if strings.Contains(rules, id) {
		t.Errorf("iptables rules naming pod %s left", id)
	}
	for _, a := range addrs {
		if mentions(rules, a) {
			t.Errorf("iptables rules naming address %s left", a)
		}
	}
	for _, p := range ports {
		if mentions(rules, fmt.Sprint(p.HostPort)) {
			t.Errorf("iptables rules naming port %d left", p.HostPort)
		}
	}
}

func iptablesSave(t *testing.T) string {
	t.Helper()
	return run(t, "iptables-save")
}

// freePort is a TCP and UDP port free on the host now, below the
// ephemeral range so that no connection of a parallel test takes it.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(10000)
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l.Close()
		if c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port)); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func attach(t *testing.T, env Env, id, netns string, names []string, ports []PortMap) []Attachment {
	t.Helper()
	spec, err := ParseSpec([]string{strings.Join(names, ",")})
	if err != nil {
		t.Fatal(err)
	}
	atts, err := env.Attach(context.Background(), id, netns, spec, ports)
	if err != nil {
		t.Fatal(err)
	}
	return atts
}
