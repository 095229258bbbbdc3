package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"podctl/datadir"
	"podctl/internal/errdefs"
)

// Where networks are defined and where plugins are found, unless told.
const (
	DefaultConfDir = "/etc/podctl/net.d"
	ConfDirEnv     = "PODCTL_NET_DIR"
	PluginDir      = "/usr/lib/cni"
)

// DefaultSubnet is the built-in default network's address range. It is
// podctl's own: 10.88 is podman's, 10.22 docker's and 172.16/12 and
// 192.168/16 are common on home and office networks.
const DefaultSubnet = "10.47.0.0/16"

// DefaultBridge is the bridge of the built-in default network.
const DefaultBridge = "podctl0"

// Env says where networks are defined and kept.
type Env struct {
	DataDir    string   // podctl's data dir: CNI cache in DATA/cni/cache, host-local reservations in DATA/cni/networks, netns files in DATA/netns
	ConfDir    string   // network definitions: /etc/podctl/net.d, or $PODCTL_NET_DIR if set
	PluginDirs []string // /usr/lib/cni
}

// NewEnv is the environment of the data directory dataDir, with the
// network definitions of $PODCTL_NET_DIR or /etc/podctl/net.d.
func NewEnv(dataDir string) Env {
	conf := os.Getenv(ConfDirEnv)
	if conf == "" {
		conf = DefaultConfDir
	}
	return Env{DataDir: dataDir, ConfDir: conf, PluginDirs: []string{PluginDir}}
}

func (e Env) cacheDir() string    { return filepath.Join(datadir.CNIDir(e.DataDir), "cache") }
func (e Env) networksDir() string { return filepath.Join(datadir.CNIDir(e.DataDir), "networks") }

// DefaultConfList is the built-in default network: a bridge with a
// masquerading gateway, host-local addresses and port forwarding.
func DefaultConfList() []byte {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       DefaultName,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      DefaultBridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": DefaultSubnet}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{
				"type":         "portmap",
				"snat":         true,
				"capabilities": map[string]bool{"portMappings": true},
			},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		panic(err) // a literal of maps and strings always marshals
	}
	return b
}

// ConfInfo is one network definition, for listing.
type ConfInfo struct {
	Name string // the network's name; if the file is broken, its base name without a leading "NN-"
	File string // "" for the built-in default
	Err  error  // why the file cannot be used
	// list is the definition as read, so that load reads no file twice.
	list *libcni.NetworkConfigList
}

// confFiles lists the definition files of ConfDir, sorted. A missing
// folder holds none.
func (e Env) confFiles() ([]string, error) {
	entries, err := os.ReadDir(e.ConfDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the network definitions: %w", err)
	}
	var files []string
	for _, ent := range entries {
		ext := filepath.Ext(ent.Name())
		if (ext == ".conf" || ext == ".conflist") && !ent.IsDir() {
			files = append(files, filepath.Join(e.ConfDir, ent.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// readConf reads one definition file as a list: a .conflist as it is (its
// plugins inlined), a .conf as a list of its one plugin.
func readConf(path string) (*libcni.NetworkConfigList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if filepath.Ext(path) == ".conf" {
		b, err = confAsList(b)
	}
	var list *libcni.NetworkConfigList
	if err == nil {
		list, err = libcni.NetworkConfFromBytes(b)
	}
	if err != nil {
		return nil, errdefs.New(errdefs.ErrInvalid, "%s does not parse: %s", path, oneLine(err))
	}
	if !validName(list.Name) {
		return nil, errdefs.New(errdefs.ErrInvalid, "%s: %q is not a network name (letters, digits, '_', '.', '-')", path, list.Name)
	}
	if len(list.Plugins) == 0 {
		return nil, errdefs.New(errdefs.ErrInvalid, "%s names no plugin", path)
	}
	return list, nil
}

// confAsList makes the single plugin of a .conf file a list.
func confAsList(b []byte) ([]byte, error) {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	if t, _ := raw["type"].(string); t == "" {
		return nil, errors.New(`no plugin "type"`)
	}
	list := map[string]any{"name": raw["name"], "plugins": []any{raw}}
	if v, ok := raw["cniVersion"]; ok {
		list["cniVersion"] = v
	}
	return json.Marshal(list)
}

// List gives every network defined, in file order, first of a name
// winning, and the built-in default unless a file replaces it. Broken files
// are listed with their error.
func (e Env) List() ([]ConfInfo, error) {
	files, err := e.confFiles()
	if err != nil {
		return nil, err
	}
	var out []ConfInfo
	seen := map[string]bool{}
	for _, f := range files {
		list, err := readConf(f)
		if err != nil {
			out = append(out, ConfInfo{Name: strings.TrimLeft(baseName(f), "0123456789-"), File: f, Err: err})
			continue
		}
		if !seen[list.Name] {
			seen[list.Name] = true
			out = append(out, ConfInfo{Name: list.Name, File: f, list: list})
		}
	}
	if !seen[DefaultName] {
		out = append(out, ConfInfo{Name: DefaultName})
	}
	return out, nil
}

// load finds the network name: a file of ConfDir whose name field is name
// (a file default.conf or default.conflist first for the default
// network), else the built-in default.
func (e Env) load(name string) (*libcni.NetworkConfigList, error) {
	infos, err := e.List()
	if err != nil {
		return nil, err
	}
	if name == DefaultName {
		for _, i := range infos {
			switch {
			case i.File == "" || baseName(i.File) != DefaultName:
			case i.Err != nil:
				return nil, i.Err
			case i.Name != DefaultName:
				return nil, errdefs.New(errdefs.ErrInvalid, "%s names its network %q: the default network's file must name it %q", i.File, i.Name, DefaultName)
			}
		}
	}
	var known, broken []string
	for _, i := range infos {
		switch {
		case i.Err == nil && i.Name == name && i.File == "":
			return libcni.ConfListFromBytes(DefaultConfList())
		case i.Err == nil && i.Name == name:
			return i.list, nil
		case i.Err != nil && i.Name == name:
			return nil, i.Err
		case i.Err != nil:
			broken = append(broken, filepath.Base(i.File))
		default:
			known = append(known, i.Name)
		}
	}
	msg := fmt.Sprintf("no such network in %s (known: %s)", e.ConfDir, strings.Join(known, ", "))
	if len(broken) > 0 {
		msg += fmt.Sprintf("; files that do not parse: %s", strings.Join(broken, ", "))
	}
	return nil, errdefs.New(errdefs.ErrNotFound, "%s", msg)
}

func baseName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// oneLine makes an error's text a single line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
