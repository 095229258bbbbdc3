package podfile

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"podctl/lifecycle"
)

// An appc pod manifest (schema.PodManifest), in the subset podctl runs.
// Its own types are not used for reading: they take any field, and a pod
// file's unknown fields are refused.
type appcPod struct {
	ACKind          string            `yaml:"acKind"`
	ACVersion       string            `yaml:"acVersion"`
	Apps            []appcApp         `yaml:"apps"`
	Volumes         []appcVolume      `yaml:"volumes"`
	Annotations     []appcKV          `yaml:"annotations"`
	Ports           []appcPort        `yaml:"ports"`
	UserLabels      map[string]string `yaml:"userLabels"`
	UserAnnotations map[string]string `yaml:"userAnnotations"`
}

type appcKV struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type appcApp struct {
	Name           string        `yaml:"name"`
	Image          appcImage     `yaml:"image"`
	App            *appcImageApp `yaml:"app"`
	Mounts         []appcMount   `yaml:"mounts"`
	ReadOnlyRootFS bool          `yaml:"readOnlyRootFS"`
}

type appcImage struct {
	Name   string   `yaml:"name"`
	ID     string   `yaml:"id"`
	Labels []appcKV `yaml:"labels"`
}

type appcImageApp struct {
	Exec             []string       `yaml:"exec"`
	Isolators        []appcIsolator `yaml:"isolators"`
	User             string         `yaml:"user"`
	Group            string         `yaml:"group"`
	WorkingDirectory string         `yaml:"workingDirectory"`
	Environment      []appcKV       `yaml:"environment"`
}

// appcIsolator is one of the isolators podctl reads from a pod file:
// resource/memory and resource/cpu, whose limit is the app's.
type appcIsolator struct {
	Name string `yaml:"name"`
	// Value is read once the name says what it holds.
	Value yaml.Node `yaml:"value"`
}

// resourceLimit reads the limit of a resource isolator's value,
// {"limit": Q, "request": Q, "default": B}, refusing any other key.
func resourceLimit(file string, iso *appcIsolator) (string, error) {
	v := &iso.Value
	if v.Kind != yaml.MappingNode {
		return "", errorf(file, v.Line, "isolator %s: its value is not a mapping with a limit", iso.Name)
	}
	limit := ""
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch k.Value {
		case "limit":
			if val.Kind != yaml.ScalarNode {
				return "", errorf(file, val.Line, "isolator %s: the limit is not a quantity such as 64M", iso.Name)
			}
			limit = val.Value
		case "request", "default":
		default:
			return "", errorf(file, k.Line, "unknown field %q: podctl does not read it (misspelt, or not supported; see podctl apply --help)", k.Value)
		}
	}
	return limit, nil
}

type appcMount struct {
	Volume string `yaml:"volume"`
	Path   string `yaml:"path"`
}

// appcVolume is an appc volume, which podctl's form writes as appc does.
type appcVolume = nativeVolume

type appcPort struct {
	Name     string `yaml:"name"`
	HostPort int    `yaml:"hostPort"`
	HostIP   string `yaml:"hostIP"`
}

// appcAnnotationName names the pod, as podctl's own manifests do.
const appcAnnotationName = lifecycle.AnnotationName

func parseAppc(file string, b []byte) (*Pod, error) {
	var m appcPod
	if err := decodeStrict(file, b, &m); err != nil {
		return nil, err
	}
	if m.ACKind != "PodManifest" {
		return nil, errorf(file, 0, "acKind %q: of appc manifests, podctl runs a PodManifest", m.ACKind)
	}
	p := &Pod{Form: "appc", Labels: m.UserLabels, Annotations: m.UserAnnotations, Restart: "always"}
	for _, a := range m.Annotations {
		switch a.Name {
		case appcAnnotationName:
			p.Name = a.Value
		case kubeAnnotationStage1:
			p.Flavor = a.Value
		case kubeAnnotationNet:
			p.Net = strings.Split(a.Value, ",")
		case kubeAnnotationReady:
			p.Ready = a.Value
		case kubeAnnotationInsecure:
			if a.Value != "image" {
				return nil, errorf(file, 0, "annotation %s: %q is not known: a pod file may only skip image (signature checks)", a.Name, a.Value)
			}
			p.InsecureImage = true
		default:
			return nil, errorf(file, 0, "annotation %q: podctl does not read it: put the user's in userAnnotations", a.Name)
		}
	}
	for _, v := range m.Volumes {
		p.Volumes = append(p.Volumes, volumeSpec(v))
	}
	for _, pt := range m.Ports {
		spec := pt.Name + ":"
		if pt.HostIP != "" {
			spec += pt.HostIP + ":"
		}
		p.Ports = append(p.Ports, spec+itoa(pt.HostPort))
	}
	for _, a := range m.Apps {
		app := App{Name: a.Name, Image: a.Image.ID, ReadOnlyRootfs: a.ReadOnlyRootFS}
		if app.Image == "" {
			app.Image = a.Image.Name
			if v := labelValue(a.Image.Labels, "version"); v != "" {
				app.Image += ":" + v
			}
		}
		if x := a.App; x != nil {
			if len(x.Exec) > 0 {
				app.Exec, app.Args, app.HasArgs = x.Exec[0], x.Exec[1:], true
			}
			app.User, app.Group, app.WorkingDir = x.User, x.Group, x.WorkingDirectory
			for _, e := range x.Environment {
				app.Env = append(app.Env, e.Name+"="+e.Value)
			}
			for _, iso := range x.Isolators {
				var err error
				switch iso.Name {
				case "resource/memory":
					app.Memory, err = resourceLimit(file, &iso)
				case "resource/cpu":
					app.CPU, err = resourceLimit(file, &iso)
				default:
					return nil, errorf(file, iso.Value.Line, "app %s: isolator %q: a pod file takes resource/memory and resource/cpu; podctl's form has the rest", a.Name, iso.Name)
				}
				if err != nil {
					return nil, err
				}
			}
		}
		for _, mt := range a.Mounts {
			app.Mounts = append(app.Mounts, "volume="+mt.Volume+",target="+mt.Path)
		}
		p.Apps = append(p.Apps, app)
	}
	return p, nil
}

func labelValue(labels []appcKV, name string) string {
	for _, l := range labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }
