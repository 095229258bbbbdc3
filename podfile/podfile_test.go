package podfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseNative(t *testing.T) {
	p, err := Parse("/etc/podctl/pods/web.pod", []byte(`
stage1: native
labels: {tier: front}
restart: on-failure:3
ready: notify
stopGracePeriod: 30s
net: [none]
volumes: [{name: data, kind: host, source: /srv, readOnly: true}]
insecureOptions: [image]
apps:
  - name: httpd
    image: ../images/busybox.aci
    exec: /bin/busybox
    args: [httpd, -f]
    env: {B: "2", A: "1"}
    mounts: [{volume: data, target: /data}]
    memory: 64M
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Pod{File: "/etc/podctl/pods/web.pod", Digest: p.Digest, Form: "podctl", Name: "web", Flavor: "native",
		Labels: map[string]string{"tier": "front"}, Restart: "on-failure:3", Ready: "notify", StopGrace: "30s",
		Net: []string{"none"}, Volumes: []string{"data,kind=host,source=/srv,readOnly=true"}, InsecureImage: true,
		Apps: []App{{Name: "httpd", Image: "/etc/podctl/images/busybox.aci", Exec: "/bin/busybox", Args: []string{"httpd", "-f"}, HasArgs: true,
			Env: []string{"A=1", "B=2"}, Mounts: []string{"volume=data,target=/data"}, Memory: "64M"}}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v\nwant %+v", p, want)
	}
	if !strings.HasPrefix(p.Digest, "sha256:") || len(p.Digest) != 71 {
		t.Fatalf("digest %q", p.Digest)
	}
}

func TestParseKube(t *testing.T) {
	p, err := Parse("/x/pod.pod", []byte(`apiVersion: v1
kind: Pod
metadata:
  name: two
  annotations: {podctl.io/stage1: native, podctl.io/net: none, owner: ops}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  volumes:
  - name: scratch
    emptyDir: {}
  containers:
  - name: one
    image: example.com/busybox
    command: [/bin/sh, -c]
    args: ["sleep 100"]
    env: [{name: X, value: "1"}]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
    resources: {limits: {memory: 64Mi, cpu: 500m}, requests: {cpu: 100m}}
    securityContext: {runAsUser: 1000, capabilities: {add: [NET_ADMIN], drop: [CHOWN]}, allowPrivilegeEscalation: false}
    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, hostPort: 5353, protocol: UDP}, {containerPort: 9}]
  - name: two
    image: example.com/busybox
`))
	if err != nil {
		t.Fatal(err)
	}
	f := false
	nnp := !f
	want := &Pod{File: "/x/pod.pod", Digest: p.Digest, Form: "kubernetes", Name: "two", Flavor: "native",
		Annotations: map[string]string{"owner": "ops"}, Restart: "no", StopGrace: "5s", Net: []string{"none"},
		Ports: []string{"8080:80", "5353:53/udp"}, Volumes: []string{"scratch,kind=empty"},
		Apps: []App{
			{Name: "one", Image: "example.com/busybox", Exec: "/bin/sh", Args: []string{"-c", "sleep 100"}, HasArgs: true,
				Env: []string{"X=1"}, Mounts: []string{"volume=scratch,target=/scratch"}, Memory: "64Mi", CPU: "500m",
				User: "1000", CapsAdd: []string{"NET_ADMIN"}, CapsRemove: []string{"CHOWN"}, NoNewPrivileges: &nnp},
			{Name: "two", Image: "example.com/busybox"},
		}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v\nwant %+v", p, want)
	}
}

func TestParseAppc(t *testing.T) {
	p, err := Parse("/x/m.pod", []byte(`{"acKind": "PodManifest", "acVersion": "0.8.11",
"annotations": [{"name": "podctl.io/name", "value": "from-appc"}, {"name": "podctl.io/net", "value": "none"}],
"apps": [{"name": "a", "image": {"name": "example.com/busybox", "labels": [{"name": "version", "value": "1.0"}]},
  "app": {"exec": ["/bin/sleep", "9"], "user": "0", "group": "0",
    "isolators": [{"name": "resource/memory", "value": {"limit": "64M"}}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "from-appc" || p.Form != "appc" || len(p.Apps) != 1 || p.Apps[0].Image != "example.com/busybox:1.0" ||
		p.Apps[0].Exec != "/bin/sleep" || !reflect.DeepEqual(p.Apps[0].Args, []string{"9"}) || p.Net[0] != "none" || p.Apps[0].Memory != "64M" {
		t.Fatalf("got %+v", p)
	}
}

func TestParseRefusals(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"unknown field", "apps:\n  - image: x\n    imag: y\n", `/x/a.pod:3: unknown field "imag"`},
		{"unknown field with a line break", "\"0\\n0\": 1\n", `/x/a.pod:1: unknown field "0\n0"`},
		{"wrong type with a line break", "apps: \"a\\nb\"\n", `"a\nb" is a string`},
		{"unknown top field", "name: a\nstage: native\napps: [{image: x}]\n", `/x/a.pod:2: unknown field "stage"`},
		{"syntax", "apps: [\n", "/x/a.pod:1: "},
		{"tab", "apps:\n\t- image: x\n", "/x/a.pod:2: "},
		{"wrong type", "apps: {image: x}\n", "/x/a.pod:1: "},
		{"no apps", "name: a\n", "has no apps"},
		{"no image", "apps: [{name: a}]\n", "has no image"},
		{"two apps one name", "apps: [{name: a, image: x}, {name: a, image: y}]\n", "two apps are named a"},
		{"two documents", "apps: [{image: x}]\n---\napps: [{image: y}]\n", "/x/a.pod:2: a second document"},
		{"not a mapping", "- a\n", "not a pod file"},
		{"empty", "", "not a pod file"},
		{"kube unknown", "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{image: x}]\n  nodeName: n\n", `/x/a.pod:5: unknown field "nodeName"`},
		{"kube kind", "apiVersion: apps/v1\nkind: Deployment\n", "podctl runs a v1 Pod only"},
		{"kube privileged", "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{image: x, securityContext: {privileged: true}}]\n", "no privileged apps"},
		{"kube restart", "apiVersion: v1\nkind: Pod\nspec:\n  restartPolicy: Sometimes\n  containers: [{image: x}]\n", "restartPolicy"},
		{"appc isolator", `{"acKind": "PodManifest", "apps": [{"name": "a", "image": {"name": "x"}, "app": {"exec": ["/a"], "isolators": [{"name": "resource/memory", "value": {"limt": "1G"}}]}}]}`, `/x/a.pod:1: unknown field "limt"`},
		{"appc isolator name", `{"acKind": "PodManifest", "apps": [{"name": "a", "image": {"name": "x"}, "app": {"exec": ["/a"], "isolators": [{"name": "os/linux/no-new-privileges", "value": {}}]}}]}`, `isolator "os/linux/no-new-privileges"`},
		{"appc unknown", `{"acKind": "PodManifest", "apps": [{"image": {"name": "x"}, "app": {"exec": ["/a"], "eventHandlers": []}}]}`, `/x/a.pod:1: unknown field "eventHandlers"`},
		{"insecure", "insecureOptions: [tls]\napps: [{image: x}]\n", "may only skip image"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("/x/a.pod", []byte(c.text))
			var pe *Error
			if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line with %q", err, c.want)
			}
		})
	}
}
