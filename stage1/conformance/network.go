package conformance

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"podctl/datadir"
	"podctl/network"
	"podctl/stage0"

	"golang.org/x/sys/unix"
)

// The suite's default network: a bridge and a range of its own, without
// masquerading, so that its pods reach nothing but the host's side of
// their link. The built-in default, which masquerades, is never used.
// Two runs of the suite at once take different slots, each with a bridge
// and range of its own (podctlconfK, 10.216.K.0/24).
var suiteBridge, suiteSubnet string

// writeNetworks defines the suite's default network in a folder of its
// own and points $PODCTL_NET_DIR at it, for this process and the pods'
// stage1 it starts; the bridge is removed at the end.
func writeNetworks(t testing.TB, dir string) error {
	if err := takeSlot(); err != nil {
		return err
	}
	netDir := filepath.Join(dir, "net.d")
	if err := os.MkdirAll(netDir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "default", "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}`,
		suiteBridge, filepath.Join(dir, "ipam"), suiteSubnet)
	if err := os.WriteFile(filepath.Join(netDir, "default.conflist"), []byte(conf), 0o644); err != nil {
		return err
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", suiteBridge).Run() })
	return os.Setenv(network.ConfDirEnv, netDir)
}

// slotLock holds the suite's slot for as long as the process lives.
var slotLock *os.File

// takeSlot takes the first of 16 slots no other run holds.
func takeSlot() error {
	if slotLock != nil {
		return nil
	}
	for k := 0; k < 16; k++ {
		f, err := os.OpenFile(fmt.Sprintf("/tmp/podctl-conformance-net-%d.lock", k), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		slotLock = f
		suiteBridge, suiteSubnet = fmt.Sprintf("podctlconf%d", k), fmt.Sprintf("10.216.%d.0/24", k)
		return nil
	}
	return errors.New("every network slot of the suite is taken: are 16 runs going on?")
}

// A pod on the default network (not fly, which has the host's): its app
// sees eth0 with the address status shows, in the network's range, and
// once the pod has ended nothing of its network is held.
func checkNetworkDefault(t *testing.T, h *harness) {
	if h.flavor == "fly" {
		h.net = []string{"host"}
		checkNetworkHost(t, h)
		return
	}
	h.net = []string{"default"}
	p := h.start(nil, sh("main", "/bin/busybox ip -4 -o addr show dev eth0; sleep 30"))
	p.waitReady()
	info, err := stage0.Status(h.c, p.uuid)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Networks) != 1 || info.Networks[0].Network != "default" || info.Networks[0].Interface != "eth0" {
		t.Fatalf("status shows networks %+v, want default on eth0", info.Networks)
	}
	addr := info.Networks[0].Address
	if pfx, err := netip.ParsePrefix(addr); err != nil || !netip.MustParsePrefix(suiteSubnet).Contains(pfx.Addr()) {
		t.Fatalf("the pod's address %q is not in %s", addr, suiteSubnet)
	}
	h.waitFor("eth0 and its address in the app's output", p, func() bool { return strings.Contains(p.output(), addr) })
	if _, err := stage0.Stop(h.c, p.uuid, false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.wait()
	held, err := network.NewEnv(h.c.DataDir).Held()
	if err != nil || len(held) != 0 {
		t.Errorf("after the pod ended, CNI's cache holds %v (%v)", held, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(h.c.DataDir, datadir.NetNS)); len(ents) > 0 {
		t.Errorf("network namespaces left: %v", ents)
	}
}

// --net=none: a namespace of the pod's own with lo alone (fly has no
// namespace to give: it refuses).
func checkNetworkNone(t *testing.T, h *harness) {
	if h.flavor == "fly" {
		return
	}
	h.net = []string{"none"}
	p := h.start(nil, sh("main", "echo nets=$(cd /sys/class/net && echo *)"))
	wantCode(t, p, 0)
	if !strings.Contains(p.output(), "nets=lo\n") {
		t.Errorf("--net=none: the app sees %q, want lo alone", p.output())
	}
}

// --net=host (fly's only network): the app is in the host's network
// namespace.
func checkNetworkHost(t *testing.T, h *harness) {
	h.net = []string{"host"}
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	p := h.start(nil, sh("main", "echo netns=$(readlink /proc/self/ns/net)"))
	wantCode(t, p, 0)
	if !strings.Contains(p.output(), "netns="+host+"\n") {
		t.Errorf("--net=host: the app's network namespace is %q, the host's %s", p.output(), host)
	}
}
