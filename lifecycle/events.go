package lifecycle

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"podctl/datadir"
	"podctl/events"
)

// AppendEvent is events.Append for the pod (through its appender, if it
// has one: RecordEventsWith): it knows the pod's directory,
// DATA/pods/<state>/<uuid> (a real path, not one through /proc/self/fd).
// An empty e.Pod is taken from the directory's name, and an empty e.Name
// from the pod manifest's AnnotationName, when there is a manifest.
func (p *Pod) AppendEvent(e events.Event) error {
	podDir := filepath.Clean(p.Path())
	if e.Pod == "" {
		e.Pod = filepath.Base(podDir)
	}
	if e.Name == "" {
		if b, err := os.ReadFile(filepath.Join(podDir, FileManifest)); err == nil {
			e.Name = NameFromManifest(b)
		}
	}
	if p.appender != nil {
		// The appender of the command handling the pod holds the log's
		// lock: an Append of this process's own could wait for it.
		return p.appender.Append(e)
	}
	return events.Append(datadir.OfPod(podDir), e)
}

// NameFromManifest returns the pod's name from a pod manifest's
// AnnotationName, or "" if it has none or the manifest does not parse.
// It reads only the annotations, so it is cheap enough to call per event.
func NameFromManifest(manifest []byte) string {
	// A manifest that never spells the annotation's name has no name:
	// podctl writes pod manifests with encoding/json, which writes the
	// name as it is, so only a pod with a name pays for the decoding (gc
	// records an event of every pod it marks).
	if !bytes.Contains(manifest, annotationNameJSON) {
		return ""
	}
	var m struct {
		Annotations []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"annotations"`
	}
	if json.Unmarshal(manifest, &m) != nil {
		return ""
	}
	for _, a := range m.Annotations {
		if a.Name == AnnotationName {
			return a.Value
		}
	}
	return ""
}

// annotationNameJSON is AnnotationName as a JSON string.
var annotationNameJSON = []byte(`"` + AnnotationName + `"`)

// Event records e for the pod (AppendEvent), and warns (events.Warn)
// instead of failing: an event is never worth failing a pod operation for.
func (p *Pod) Event(e events.Event) {
	if err := p.AppendEvent(e); err != nil {
		events.Warn(err)
	}
}
