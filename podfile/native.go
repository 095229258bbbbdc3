package podfile

import (
	"sort"
	"strconv"
	"strings"
)

// nativePod is podctl's own form, in the words of run's flags:
//
//	name: web                  # default: the file name without .pod
//	stage1: native
//	labels: {tier: front}
//	annotations: {owner: ops}
//	restart: always            # no, on-failure[:MAX] or always (default)
//	restartBackoff: 10s        # the wait before the first restart
//	ready: started             # or notify
//	stopGracePeriod: 10s
//	net: [none]                # --net values
//	hostname: web
//	ports: ["8080:80"]         # --port values
//	volumes: [{name: data, kind: host, source: /srv/data, readOnly: true}]
//	insecureOptions: [image]
//	apps:
//	  - name: httpd
//	    image: example.com/busybox      # or ./busybox.aci, beside the file
//	    exec: /bin/busybox
//	    args: [httpd, -f, -p, "80"]
//	    env: {MODE: prod}
//	    mounts: [{volume: data, target: /data}]
//	    memory: 64M
//	    cpu: 500m
type nativePod struct {
	Name            string            `yaml:"name"`
	Stage1          string            `yaml:"stage1"`
	Labels          map[string]string `yaml:"labels"`
	Annotations     map[string]string `yaml:"annotations"`
	Restart         string            `yaml:"restart"`
	RestartBackoff  string            `yaml:"restartBackoff"`
	Ready           string            `yaml:"ready"`
	StopGracePeriod string            `yaml:"stopGracePeriod"`
	Net             []string          `yaml:"net"`
	Hostname        string            `yaml:"hostname"`
	Ports           []string          `yaml:"ports"`
	Volumes         []nativeVolume    `yaml:"volumes"`
	InsecureOptions []string          `yaml:"insecureOptions"`
	Apps            []nativeApp       `yaml:"apps"`
}

type nativeVolume struct {
	Name     string `yaml:"name"`
	Kind     string `yaml:"kind"`
	Source   string `yaml:"source"`
	ReadOnly bool   `yaml:"readOnly"`
	Mode     string `yaml:"mode"`
	UID      *int   `yaml:"uid"`
	GID      *int   `yaml:"gid"`
}

type nativeApp struct {
	Name            string            `yaml:"name"`
	Image           string            `yaml:"image"`
	Exec            string            `yaml:"exec"`
	Args            *[]string         `yaml:"args"`
	Env             map[string]string `yaml:"env"`
	User            string            `yaml:"user"`
	Group           string            `yaml:"group"`
	WorkingDir      string            `yaml:"workingDir"`
	Mounts          []nativeMount     `yaml:"mounts"`
	Memory          string            `yaml:"memory"`
	CPU             string            `yaml:"cpu"`
	ReadOnlyRootfs  bool              `yaml:"readOnlyRootfs"`
	CapsRetain      []string          `yaml:"capsRetain"`
	CapsRemove      []string          `yaml:"capsRemove"`
	NoNewPrivileges *bool             `yaml:"noNewPrivileges"`
}

type nativeMount struct {
	Volume string `yaml:"volume"`
	Target string `yaml:"target"`
}

func parseNative(file string, b []byte) (*Pod, error) {
	var n nativePod
	if err := decodeStrict(file, b, &n); err != nil {
		return nil, err
	}
	p := &Pod{Form: "podctl", Name: n.Name, Flavor: n.Stage1, Labels: n.Labels, Annotations: n.Annotations,
		Restart: n.Restart, RestartBackoff: n.RestartBackoff, Ready: n.Ready, StopGrace: n.StopGracePeriod, Net: n.Net, Hostname: n.Hostname, Ports: n.Ports}
	for _, o := range n.InsecureOptions {
		if o != "image" {
			return nil, errorf(file, 0, "insecureOptions: %q is not known: a pod file may only skip image (signature checks)", o)
		}
		p.InsecureImage = true
	}
	for _, v := range n.Volumes {
		p.Volumes = append(p.Volumes, volumeSpec(v))
	}
	for _, a := range n.Apps {
		app := App{Name: a.Name, Image: a.Image, Exec: a.Exec, Env: envList(a.Env), User: a.User, Group: a.Group,
			WorkingDir: a.WorkingDir, Memory: a.Memory, CPU: a.CPU, ReadOnlyRootfs: a.ReadOnlyRootfs,
			CapsRetain: a.CapsRetain, CapsRemove: a.CapsRemove, NoNewPrivileges: a.NoNewPrivileges}
		if a.Args != nil {
			app.Args, app.HasArgs = *a.Args, true
		}
		for _, m := range a.Mounts {
			app.Mounts = append(app.Mounts, "volume="+m.Volume+",target="+m.Target)
		}
		p.Apps = append(p.Apps, app)
	}
	return p, nil
}

// volumeSpec writes a volume as --volume takes it.
func volumeSpec(v nativeVolume) string {
	parts := []string{v.Name, "kind=" + v.Kind}
	if v.Source != "" {
		parts = append(parts, "source="+v.Source)
	}
	if v.ReadOnly {
		parts = append(parts, "readOnly=true")
	}
	if v.Mode != "" {
		parts = append(parts, "mode="+v.Mode)
	}
	if v.UID != nil {
		parts = append(parts, "uid="+strconv.Itoa(*v.UID))
	}
	if v.GID != nil {
		parts = append(parts, "gid="+strconv.Itoa(*v.GID))
	}
	return strings.Join(parts, ",")
}

// envList is a mapping of variables as KEY=VALUE, by key: a mapping has no
// order, and the same file must give the same pod.
func envList(env map[string]string) []string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}
