package network

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"podctl/internal/errdefs"
)

// The built-in default network, checked as JSON: tests never apply it, as
// it masquerades.
func TestDefaultConfList(t *testing.T) {
	var c struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []struct {
			Type         string          `json:"type"`
			Bridge       string          `json:"bridge"`
			IsGateway    bool            `json:"isGateway"`
			IPMasq       bool            `json:"ipMasq"`
			HairpinMode  bool            `json:"hairpinMode"`
			SNAT         *bool           `json:"snat"`
			Capabilities map[string]bool `json:"capabilities"`
			IPAM         struct {
				Type   string                `json:"type"`
				Ranges [][]map[string]string `json:"ranges"`
				Routes []map[string]string   `json:"routes"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(DefaultConfList(), &c); err != nil {
		t.Fatal(err)
	}
	if c.CNIVersion != "1.0.0" || c.Name != "default" || len(c.Plugins) != 2 {
		t.Fatalf("default network %+v", c)
	}
	br, pm := c.Plugins[0], c.Plugins[1]
	if br.Type != "bridge" || br.Bridge != "podctl0" || !br.IsGateway || !br.IPMasq || !br.HairpinMode ||
		br.IPAM.Type != "host-local" || len(br.IPAM.Ranges) != 1 || br.IPAM.Ranges[0][0]["subnet"] != DefaultSubnet ||
		len(br.IPAM.Routes) != 1 || br.IPAM.Routes[0]["dst"] != "0.0.0.0/0" {
		t.Errorf("bridge plugin %+v", br)
	}
	if pm.Type != "portmap" || pm.SNAT == nil || !*pm.SNAT || !pm.Capabilities["portMappings"] {
		t.Errorf("portmap plugin %+v", pm)
	}

	// As Attach would use it: host-local's reservations in the data dir.
	env := Env{DataDir: "/data", ConfDir: t.TempDir(), PluginDirs: []string{PluginDir}}
	list, err := env.load(DefaultName)
	if err == nil {
		list, err = env.withDataDir(list)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list.Plugins[0].Bytes), `"dataDir":"/data/cni/networks"`) || !hasCapability(list, "portMappings") {
		t.Errorf("default network as used: %s", list.Bytes)
	}
	if err := env.checkPlugins(list); err != nil {
		t.Error(err)
	}
}

func TestLoad(t *testing.T) {
	env := Env{ConfDir: t.TempDir()}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(env.ConfDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10-a.conflist", `{"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "bridge", "bridge": "first"}]}`)
	write("20-a.conf", `{"cniVersion": "1.0.0", "name": "a", "type": "bridge", "bridge": "second"}`)
	write("30-b.conf", `{"cniVersion": "1.0.0", "name": "b", "type": "ptp"}`)
	write("40-broken.conflist", `{"name": "broken", "plugins": 3}`)
	write("50-noname.conflist", `{"cniVersion": "1.0.0", "plugins": [{"type": "ptp"}]}`)
	write("README", `not a network`)

	if list, err := env.load("a"); err != nil || !strings.Contains(string(list.Bytes), "first") {
		t.Errorf("a: first file should win: %v", err)
	}
	if list, err := env.load("b"); err != nil || len(list.Plugins) != 1 || list.Plugins[0].Network.Type != "ptp" {
		t.Errorf("b from a .conf: %v", err)
	}
	if list, err := env.load(DefaultName); err != nil || list.Plugins[0].Network.Type != "bridge" || !strings.Contains(string(list.Bytes), DefaultBridge) {
		t.Errorf("the built-in default: %v", err)
	}
	if _, err := env.load("broken"); err == nil || !strings.Contains(err.Error(), "40-broken.conflist does not parse") {
		t.Errorf("broken: %v", err)
	}
	_, err := env.load("nosuch")
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "(known: a, b, default); files that do not parse: 40-broken.conflist, 50-noname.conflist") {
		t.Errorf("nosuch: %v", err)
	}
	infos, err := env.List()
	if err != nil || len(infos) != 5 {
		t.Errorf("List() = %+v, %v", infos, err)
	}

	// A default.conflist replaces the built-in default; it must name it so.
	write("default.conflist", `{"cniVersion": "1.0.0", "name": "default", "plugins": [{"type": "ptp"}]}`)
	if list, err := env.load(DefaultName); err != nil || list.Plugins[0].Network.Type != "ptp" {
		t.Errorf("default from a file: %v", err)
	}
	write("default.conflist", `{"cniVersion": "1.0.0", "name": "other", "plugins": [{"type": "ptp"}]}`)
	if _, err := env.load(DefaultName); err == nil || !strings.Contains(err.Error(), `names its network "other"`) {
		t.Errorf("default file naming another network: %v", err)
	}
	write("default.conflist", `{`)
	if _, err := env.load(DefaultName); err == nil || !strings.Contains(err.Error(), "default.conflist does not parse") {
		t.Errorf("broken default file: %v", err)
	}

	// No folder: only the default.
	env.ConfDir = filepath.Join(env.ConfDir, "nope")
	if _, err := env.load(DefaultName); err != nil {
		t.Error(err)
	}
}

func TestNewEnv(t *testing.T) {
	t.Setenv(ConfDirEnv, "")
	if e := NewEnv("/d"); e.ConfDir != DefaultConfDir || e.DataDir != "/d" || len(e.PluginDirs) != 1 || e.PluginDirs[0] != PluginDir {
		t.Errorf("NewEnv = %+v", e)
	}
	t.Setenv(ConfDirEnv, "/elsewhere")
	if e := NewEnv("/d"); e.ConfDir != "/elsewhere" {
		t.Errorf("NewEnv with %s = %+v", ConfDirEnv, e)
	}
}

// The example in dist/ is a network podctl can use.
func TestDistExample(t *testing.T) {
	list, err := readConf("../dist/net.d/10-bridge.conflist.example")
	if err != nil {
		t.Fatal(err)
	}
	env := Env{DataDir: "/data", PluginDirs: []string{PluginDir}}
	if err := env.checkPlugins(list); err != nil {
		t.Error(err)
	}
	if list.Name != "lan" || list.CNIVersion != "1.0.0" || !hasCapability(list, "portMappings") {
		t.Errorf("example %s", list.Bytes)
	}
	if err := checkInRange(list, "10.48.0.20"); err != nil {
		t.Error(err)
	}
	if err := checkInRange(list, "10.49.0.20"); err == nil {
		t.Error("10.49.0.20 is in the example's range")
	}
}

// FuzzReadConf reads any network definition file, as a .conf and as a
// .conflist, and prepares it as Attach does (host-local's dataDir, port-only
// plugins left out): no panic, a refusal is an error, and what is taken
// has a name and plugins.
func FuzzReadConf(f *testing.F) {
	for _, s := range []string{
		`{"cniVersion":"1.0.0","name":"lan","type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.48.0.0/24"}]]}}`,
		`{"cniVersion":"1.0.0","name":"lan","plugins":[{"type":"bridge","ipam":{"type":"host-local"}},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
		`{"name":"x","plugins":[]}`, `{"plugins":[{"capabilities":{"portMappings":true}}]}`, `{`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	env := Env{DataDir: dir}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, name := range []string{"x.conf", "x.conflist"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			list, err := readConf(p)
			if err != nil {
				continue
			}
			if list.Name == "" || len(list.Plugins) == 0 {
				t.Fatalf("%s %q read as %+v", name, b, list)
			}
			if list, err = env.withDataDir(list); err != nil {
				continue
			}
			if _, err := withoutPortsOnly(list); err != nil {
				continue
			}
		}
	})
}

// mayHold goes by the cache entries' names alone: a pod with none is not
// read for (gc and rm ask it of every pod they remove).
func TestMayHold(t *testing.T) {
	env := Env{DataDir: t.TempDir()}
	a, b := "0a11e000-0000-4000-8000-000000000000", "0b0b0000-0000-4000-8000-000000000000"
	if held, err := env.mayHold(a); err != nil || held {
		t.Fatalf("no cache at all: %v, %v", held, err)
	}
	results := filepath.Join(env.cacheDir(), "results")
	if err := os.MkdirAll(results, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(results, "default-"+a+"-eth0"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if held, err := env.mayHold(a); err != nil || !held {
		t.Errorf("pod with an entry: %v, %v", held, err)
	}
	if held, err := env.mayHold(b); err != nil || held {
		t.Errorf("pod without one: %v, %v", held, err)
	}
	if err := env.Detach(context.Background(), b, ""); err != nil {
		t.Errorf("Detach of a pod without an entry: %v", err)
	}
}
