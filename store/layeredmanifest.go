package store

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// layeredManifest makes the appc image manifest of a layered image from its
// config, the way Docker reads the config:
//
//   - the name, sanitized to an appc identifier; the tag becomes the
//     version label, the config's os and architecture the os and arch
//     labels, and the config's labels become annotations;
//   - the app runs entrypoint+cmd, with a command that has no slash looked
//     up on the image's PATH (lookPath) since appc wants an absolute path;
//     an image with no command, or whose command is not in the image, has
//     no app and runs only with --exec;
//   - env, user and group ("" is root; a user without a group gets its
//     primary group from the image's /etc/passwd (passwd), or group 0 if
//     it has none there, as Docker does), the working directory, the
//     exposed ports and the volumes (as mount points).
//
// What appc cannot say (an environment variable or label with a name it
// does not take) is left out rather than refused.
func layeredManifest(name, tag string, cfg ImageConfig, lookPath func(string) (string, bool), passwd []byte) ([]byte, error) {
	im := schema.BlankImageManifest()
	san, err := types.SanitizeACIdentifier(name)
	if err != nil {
		return nil, fmt.Errorf("%w: image name %q: %v", ErrInvalid, name, err)
	}
	n, err := types.NewACIdentifier(san)
	if err != nil {
		return nil, fmt.Errorf("%w: image name %q: %v", ErrInvalid, name, err)
	}
	im.Name = *n
	labels := map[types.ACIdentifier]string{"version": tag}
	if cfg.OS != "" {
		if os, arch, err := types.ToAppcOSArch(cfg.OS, cfg.Architecture, cfg.Variant); err == nil {
			labels["os"], labels["arch"] = os, arch
		}
	}
	if im.Labels, err = types.LabelsFromMap(labels); err != nil {
		return nil, fmt.Errorf("%w: labels: %v", ErrInvalid, err)
	}
	keys := make([]string, 0, len(cfg.Labels))
	for k := range cfg.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if an, err := types.NewACIdentifier(k); err == nil {
			im.Annotations.Set(*an, cfg.Labels[k])
		}
	}
	if app := layeredApp(cfg, lookPath, passwd); app != nil {
		im.App = app
	}
	b, err := im.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: making its manifest: %v", ErrInvalid, err)
	}
	if _, err := parseManifest(b); err != nil {
		return nil, err
	}
	return b, nil
}

// layeredApp is the app of a layered image, or nil if it has no command.
func layeredApp(cfg ImageConfig, lookPath func(string) (string, bool), passwd []byte) *types.App {
	argv := append(append([]string(nil), cfg.Entrypoint...), cfg.Cmd...)
	if len(argv) == 0 || argv[0] == "" || strings.IndexByte(argv[0], 0) >= 0 {
		return nil
	}
	wd := ""
	if cfg.WorkingDir != "" {
		wd = path.Clean("/" + cfg.WorkingDir)
	}
	switch {
	case path.IsAbs(argv[0]):
	case strings.Contains(argv[0], "/"):
		argv[0] = path.Join("/", wd, argv[0])
	default:
		p, ok := lookPath(argv[0])
		if !ok {
			return nil
		}
		argv[0] = p
	}
	user, group := "0", "0"
	if cfg.User != "" {
		u, g, ok := strings.Cut(cfg.User, ":")
		if u != "" {
			user = u
		}
		if ok && g != "" {
			group = g
		} else if gid, found := primaryGroup(passwd, user); found {
			group = gid
		}
	}
	app := &types.App{Exec: argv, User: user, Group: group, WorkingDirectory: wd}
	for _, e := range cfg.Env {
		k, v, _ := strings.Cut(e, "=")
		ev := types.EnvironmentVariable{Name: k, Value: v}
		if schemaEnvOK(ev) {
			app.Environment.Set(k, v)
		}
	}
	for _, p := range sortedUnique(cfg.ExposedPorts) {
		if port, ok := layeredPort(p); ok {
			app.Ports = append(app.Ports, port)
		}
	}
	names := map[types.ACName]bool{}
	for _, v := range sortedUnique(cfg.Volumes) {
		if !path.IsAbs(v) || strings.IndexByte(v, 0) >= 0 {
			continue
		}
		v = path.Clean(v)
		s, err := types.SanitizeACName("volume" + v)
		if err != nil {
			continue
		}
		mn := types.ACName(s)
		for i := 2; names[mn]; i++ {
			mn = types.ACName(s + "-" + strconv.Itoa(i))
		}
		names[mn] = true
		app.MountPoints = append(app.MountPoints, types.MountPoint{Name: mn, Path: v})
	}
	return app
}

// schemaEnvOK tells whether appc takes an environment variable.
func schemaEnvOK(ev types.EnvironmentVariable) bool {
	b, err := (&types.App{Exec: []string{"/x"}, User: "0", Group: "0", Environment: types.Environment{ev}}).MarshalJSON()
	if err != nil {
		return false
	}
	var a types.App
	return a.UnmarshalJSON(b) == nil
}

// layeredPort maps "80/tcp" (or "80", which is tcp) to an appc port.
func layeredPort(s string) (types.Port, bool) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return types.Port{}, false
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return types.Port{}, false
	}
	return types.Port{Name: types.ACName(fmt.Sprintf("port-%d-%s", n, proto)), Protocol: proto, Port: uint(n), Count: 1}, true
}

func sortedUnique(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

// primaryGroup finds the group ID of user (a name or a numeric ID) in the
// passwd file b.
func primaryGroup(b []byte, user string) (string, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || (f[0] != user && f[2] != user) {
			continue
		}
		if _, err := strconv.ParseUint(f[3], 10, 32); err != nil {
			return "", false
		}
		return f[3], true
	}
	return "", false
}
