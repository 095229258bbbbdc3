package stage0

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

func imageWithLabels(t *testing.T, labels ...string) *schema.ImageManifest {
	t.Helper()
	m := schema.BlankImageManifest()
	m.Name = "example.com/x"
	for i := 0; i+1 < len(labels); i += 2 {
		m.Labels = append(m.Labels, types.Label{Name: types.ACIdentifier(labels[i]), Value: labels[i+1]})
	}
	return m
}

func TestCheckPlatform(t *testing.T) {
	host := hostArches()[0]
	for _, ok := range [][]string{nil, {"os", "linux"}, {"arch", host}, {"os", "linux", "arch", host}, {"version", "1"}} {
		if err := checkPlatform(imageWithLabels(t, ok...)); err != nil {
			t.Errorf("labels %q refused: %v", ok, err)
		}
	}
	other := "armv7l"
	if runtime.GOARCH == "arm" {
		other = "amd64"
	}
	for _, c := range []struct {
		labels []string
		want   string
	}{
		{[]string{"os", "freebsd"}, "labelled os=freebsd, but this host runs linux"},
		{[]string{"os", "linux", "arch", other}, "labelled arch=" + other + ", but this host is " + host},
	} {
		err := checkPlatform(imageWithLabels(t, c.labels...))
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("labels %q: error %v, want a usage error saying %q", c.labels, err, c.want)
		}
	}
}

func TestHostArchIsAppcs(t *testing.T) {
	if runtime.GOARCH == "amd64" && hostArches()[0] != "amd64" {
		t.Fatalf("amd64 host maps to %q", hostArches())
	}
	if appcArches["arm64"][0] != "aarch64" || appcArches["386"][0] != "i386" {
		t.Fatal("Go's arm64 and 386 must map to appc's aarch64 and i386")
	}
}

// An image's own limits are held to the same minimum, unless the command
// line replaces them.
func TestImageLimitsMinimum(t *testing.T) {
	image := func(memory, cpu string) *schema.ImageManifest {
		m := imageWithLabels(t)
		m.App = &types.App{Exec: []string{"/bin/true"}}
		// As an image's manifest has them: read from JSON.
		var isos []string
		if memory != "" {
			isos = append(isos, `{"name":"resource/memory","value":{"limit":"`+memory+`"}}`)
		}
		if cpu != "" {
			isos = append(isos, `{"name":"resource/cpu","value":{"limit":"`+cpu+`"}}`)
		}
		if err := json.Unmarshal([]byte("["+strings.Join(isos, ",")+"]"), &m.App.Isolators); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		memory, cpu, flag, want string
	}{
		{"1", "", "", "below 6Mi"},
		{"5Mi", "", "", "below 6Mi"},
		{"", "0", "", "leaves it none"},
		{"", "1m", "", "below 10m, the least the kernel gives: give --cpu 10m or more"},
		{"", "10m", "", ""},
		{"1", "", "64M", ""},
		{"64M", "500m", "", ""},
	} {
		var memory int64
		if c.flag != "" {
			var err error
			if memory, err = ParseMemory(c.flag); err != nil {
				t.Fatal(err)
			}
		}
		_, err := effectiveApp(image(c.memory, c.cpu), &AppOptions{Memory: memory}, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("image memory %q cpu %q, --memory %q: refused: %v", c.memory, c.cpu, c.flag, err)
		case c.want != "" && (!errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("image memory %q cpu %q: got %v, want a usage error saying %q", c.memory, c.cpu, err, c.want)
		}
	}
}

func TestGCRefusesNegativeDurations(t *testing.T) {
	dir := t.TempDir()
	c := Config{DataDir: filepath.Join(dir, "data")}
	for _, opts := range []GCOptions{{GracePeriod: -time.Second}, {ExpirePrepared: -time.Hour}} {
		err := GC(c, opts, func(GCEvent) {})
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "is negative") {
			t.Errorf("GC(%+v): error %v, want a usage error saying it is negative", opts, err)
		}
	}
	if _, err := os.Stat(c.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused gc touched the data directory: %v", err)
	}
}
