package podfile

import (
	"fmt"
	"strconv"
	"strings"

	"podctl/lifecycle"
)

// The subset of a Kubernetes v1 Pod that podctl runs. It is written here
// rather than taken from k8s.io/api, whose types would add megabytes to
// the one binary that starts pods, for a few dozen fields. Fields of a Pod
// that are not here are refused, as unknown ones are.
type kubePod struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Metadata   kubeMetadata `yaml:"metadata"`
	Spec       kubeSpec     `yaml:"spec"`
}

type kubeMetadata struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type kubeSpec struct {
	Containers                    []kubeContainer `yaml:"containers"`
	Volumes                       []kubeVolume    `yaml:"volumes"`
	RestartPolicy                 string          `yaml:"restartPolicy"`
	TerminationGracePeriodSeconds *int64          `yaml:"terminationGracePeriodSeconds"`
	Hostname                      string          `yaml:"hostname"`
	HostNetwork                   bool            `yaml:"hostNetwork"`
}

type kubeContainer struct {
	Name            string            `yaml:"name"`
	Image           string            `yaml:"image"`
	Command         []string          `yaml:"command"`
	Args            *[]string         `yaml:"args"`
	Env             []kubeEnv         `yaml:"env"`
	WorkingDir      string            `yaml:"workingDir"`
	Ports           []kubePort        `yaml:"ports"`
	VolumeMounts    []kubeVolumeMount `yaml:"volumeMounts"`
	Resources       kubeResources     `yaml:"resources"`
	SecurityContext *kubeSecurity     `yaml:"securityContext"`
	ImagePullPolicy string            `yaml:"imagePullPolicy"`
}

type kubeEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type kubePort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	HostPort      int    `yaml:"hostPort"`
	HostIP        string `yaml:"hostIP"`
	Protocol      string `yaml:"protocol"`
}

type kubeVolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type kubeResources struct {
	Limits   map[string]string `yaml:"limits"`
	Requests map[string]string `yaml:"requests"`
}

type kubeSecurity struct {
	RunAsUser                *int64    `yaml:"runAsUser"`
	RunAsGroup               *int64    `yaml:"runAsGroup"`
	ReadOnlyRootFilesystem   bool      `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool     `yaml:"allowPrivilegeEscalation"`
	Privileged               bool      `yaml:"privileged"`
	Capabilities             *kubeCaps `yaml:"capabilities"`
}

type kubeCaps struct {
	Add  []string `yaml:"add"`
	Drop []string `yaml:"drop"`
}

type kubeVolume struct {
	Name     string        `yaml:"name"`
	HostPath *kubeHostPath `yaml:"hostPath"`
	EmptyDir *struct {
		Medium string `yaml:"medium"`
	} `yaml:"emptyDir"`
}

type kubeHostPath struct {
	Path string `yaml:"path"`
	Type string `yaml:"type"`
}

// podctl's annotations on a Kubernetes Pod, for what a Pod has no field
// for; they are taken out of the pod's own annotations.
const (
	kubeAnnotationStage1   = lifecycle.PodFileAnnotationStage1
	kubeAnnotationNet      = lifecycle.PodFileAnnotationNet
	kubeAnnotationReady    = lifecycle.PodFileAnnotationReady
	kubeAnnotationInsecure = lifecycle.PodFileAnnotationInsecure
)

func parseKube(file string, b []byte) (*Pod, error) {
	var k kubePod
	if err := decodeStrict(file, b, &k); err != nil {
		return nil, err
	}
	if k.APIVersion != "v1" || k.Kind != "Pod" {
		return nil, errorf(file, 0, "apiVersion %q, kind %q: of Kubernetes objects, podctl runs a v1 Pod only", k.APIVersion, k.Kind)
	}
	if ns := k.Metadata.Namespace; ns != "" && ns != "default" {
		return nil, errorf(file, 0, "namespace %q: podctl has no namespaces: leave it out", ns)
	}
	p := &Pod{Form: "kubernetes", Name: k.Metadata.Name, Labels: k.Metadata.Labels, Hostname: k.Spec.Hostname, Annotations: map[string]string{}}
	for key, v := range k.Metadata.Annotations {
		switch key {
		case kubeAnnotationStage1:
			p.Flavor = v
		case kubeAnnotationNet:
			p.Net = strings.Split(v, ",")
		case kubeAnnotationReady:
			p.Ready = v
		case kubeAnnotationInsecure:
			if v != "image" {
				return nil, errorf(file, 0, "annotation %s: %q is not known: a pod file may only skip image (signature checks)", key, v)
			}
			p.InsecureImage = true
		default:
			p.Annotations[key] = v
		}
	}
	if k.Spec.HostNetwork {
		if len(p.Net) > 0 {
			return nil, errorf(file, 0, "hostNetwork: true and annotation %s both say which network: keep one", kubeAnnotationNet)
		}
		p.Net = []string{"host"}
	}
	switch k.Spec.RestartPolicy {
	case "", "Always":
		p.Restart = "always"
	case "OnFailure":
		p.Restart = "on-failure"
	case "Never":
		p.Restart = "no"
	default:
		return nil, errorf(file, 0, "restartPolicy %q: use Always, OnFailure or Never", k.Spec.RestartPolicy)
	}
	if s := k.Spec.TerminationGracePeriodSeconds; s != nil {
		if *s < 0 {
			return nil, errorf(file, 0, "terminationGracePeriodSeconds %d is negative", *s)
		}
		p.StopGrace = strconv.FormatInt(*s, 10) + "s"
	}
	for _, v := range k.Spec.Volumes {
		switch {
		case v.HostPath != nil && v.EmptyDir == nil:
			if v.HostPath.Type != "" && v.HostPath.Type != "Directory" && v.HostPath.Type != "File" {
				return nil, errorf(file, 0, "volume %s: hostPath type %q: podctl takes paths that exist (Directory or File)", v.Name, v.HostPath.Type)
			}
			p.Volumes = append(p.Volumes, volumeSpec(nativeVolume{Name: v.Name, Kind: "host", Source: v.HostPath.Path}))
		case v.EmptyDir != nil && v.HostPath == nil:
			if v.EmptyDir.Medium != "" {
				return nil, errorf(file, 0, "volume %s: emptyDir medium %q: podctl has the default medium only", v.Name, v.EmptyDir.Medium)
			}
			p.Volumes = append(p.Volumes, volumeSpec(nativeVolume{Name: v.Name, Kind: "empty"}))
		default:
			return nil, errorf(file, 0, "volume %s: give one of hostPath and emptyDir", v.Name)
		}
	}
	for _, c := range k.Spec.Containers {
		app, ports, err := kubeApp(file, c)
		if err != nil {
			return nil, err
		}
		p.Apps = append(p.Apps, app)
		p.Ports = append(p.Ports, ports...)
	}
	return p, nil
}

// applySecurityContext gives a the settings of c's securityContext podctl has.
func applySecurityContext(file string, c kubeContainer, a *App) error {
	s := c.SecurityContext
	if s == nil {
		return nil
	}
	if s.Privileged {
		return errorf(file, 0, "container %s: privileged: podctl has no privileged apps: give the capabilities the app needs (capabilities.add)", c.Name)
	}
	if s.RunAsUser != nil {
		a.User = strconv.FormatInt(*s.RunAsUser, 10)
	}
	if s.RunAsGroup != nil {
		a.Group = strconv.FormatInt(*s.RunAsGroup, 10)
	}
	a.ReadOnlyRootfs = s.ReadOnlyRootFilesystem
	if s.AllowPrivilegeEscalation != nil {
		nnp := !*s.AllowPrivilegeEscalation
		a.NoNewPrivileges = &nnp
	}
	if s.Capabilities != nil {
		a.CapsAdd, a.CapsRemove = s.Capabilities.Add, s.Capabilities.Drop
	}
	return nil
}

// kubeApp turns a container into an app and the ports it publishes on
// the host.
func kubeApp(file string, c kubeContainer) (App, []string, error) {
	a := App{Name: c.Name, Image: c.Image, WorkingDir: c.WorkingDir}
	if c.ImagePullPolicy != "" && c.ImagePullPolicy != "IfNotPresent" && c.ImagePullPolicy != "Never" {
		return a, nil, errorf(file, 0, "container %s: imagePullPolicy %q: podctl uses the image in its store or the file named (IfNotPresent)", c.Name, c.ImagePullPolicy)
	}
	// Kubernetes' command replaces the image's entrypoint and args its
	// arguments; podctl's exec is the first word and args the rest.
	switch {
	case len(c.Command) > 0:
		a.Exec = c.Command[0]
		a.Args, a.HasArgs = append([]string{}, c.Command[1:]...), true
		if c.Args != nil {
			a.Args = append(a.Args, *c.Args...)
		}
	case c.Args != nil:
		a.Args, a.HasArgs = *c.Args, true
	}
	for _, e := range c.Env {
		a.Env = append(a.Env, e.Name+"="+e.Value)
	}
	for _, m := range c.VolumeMounts {
		if m.ReadOnly {
			return a, nil, errorf(file, 0, "container %s: volumeMount %s: readOnly is set on the volume in podctl, not on a mount: make the volume read-only", c.Name, m.Name)
		}
		a.Mounts = append(a.Mounts, "volume="+m.Name+",target="+m.MountPath)
	}
	for key, v := range c.Resources.Limits {
		switch key {
		case "memory":
			a.Memory = v
		case "cpu":
			a.CPU = v
		default:
			return a, nil, errorf(file, 0, "container %s: resource limit %q: podctl limits memory and cpu", c.Name, key)
		}
	}
	for key := range c.Resources.Requests {
		if key != "memory" && key != "cpu" {
			return a, nil, errorf(file, 0, "container %s: resource request %q: podctl knows memory and cpu", c.Name, key)
		}
		// A request is what a scheduler reserves; one host has no
		// scheduler, so requests are read and have no effect.
	}
	if err := applySecurityContext(file, c, &a); err != nil {
		return a, nil, err
	}
	var ports []string
	for _, pt := range c.Ports {
		if pt.HostPort == 0 {
			// Declared, not published: as on a Kubernetes node.
			continue
		}
		proto := strings.ToLower(pt.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return a, nil, errorf(file, 0, "container %s: port protocol %q: use TCP or UDP", c.Name, pt.Protocol)
		}
		spec := fmt.Sprintf("%d:%d", pt.HostPort, pt.ContainerPort)
		if pt.HostIP != "" {
			host := pt.HostIP
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			spec = host + ":" + spec
		}
		if proto == "udp" {
			spec += "/udp"
		}
		ports = append(ports, spec)
	}
	return a, ports, nil
}
