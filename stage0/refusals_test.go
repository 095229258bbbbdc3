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

func TestMemoryMinimum(t *testing.T) {
	for _, bad := range []string{"1", "1M", "5Mi", "6M"} {
		_, err := limitIsolators(&AppOptions{Memory: bad})
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "at least 6Mi") {
			t.Errorf("--memory %s: error %v, want a usage error naming the 6Mi minimum", bad, err)
		}
	}
	for _, good := range []string{"6Mi", "7M", "64M", "1G"} {
		if _, err := limitIsolators(&AppOptions{Memory: good}); err != nil {
			t.Errorf("--memory %s refused: %v", good, err)
		}
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
		{"1", "", "64M", ""},
		{"64M", "500m", "", ""},
	} {
		_, err := effectiveApp(image(c.memory, c.cpu), &AppOptions{Memory: c.flag}, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("image memory %q cpu %q, --memory %q: refused: %v", c.memory, c.cpu, c.flag, err)
		case c.want != "" && (!errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("image memory %q cpu %q: got %v, want a usage error saying %q", c.memory, c.cpu, err, c.want)
		}
	}
}

func TestParseMountsRefusals(t *testing.T) {
	vols, err := parseVolumes([]string{"a,kind=empty", "b,kind=empty"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mounts []string
		want   string
	}{
		{[]string{"volume=a,target=/data", "volume=b,target=/data/"}, "already has a mount on /data"},
		{[]string{"volume=a,target=/proc"}, "/proc is stage1's"},
		{[]string{"volume=a,target=/sys/fs/cgroup"}, "/sys/fs/cgroup is stage1's"},
		{[]string{"volume=a,target=/dev/../dev/shm"}, "/dev/shm is stage1's"},
	} {
		_, err := parseMounts(c.mounts, vols)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("mounts %q: error %v, want a usage error saying %q", c.mounts, err, c.want)
		}
	}
	ok := []string{"volume=a,target=/data", "volume=b,target=/data2", "volume=a,target=/devices", "volume=b,target=/system"}
	if _, err := parseMounts(ok, vols); err != nil {
		t.Errorf("mounts %q refused: %v", ok, err)
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
