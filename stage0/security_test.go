package stage0

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"podctl/stage1"
)

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]DeviceOption{
		"/dev/fuse":                 {"/dev/fuse", "/dev/fuse", "rwm"},
		"/dev/zero:/dev/myzero":     {"/dev/zero", "/dev/myzero", "rwm"},
		"/dev/fuse:r":               {"/dev/fuse", "/dev/fuse", "r"},
		"/dev/zero:/dev/a/b:wr":     {"/dev/zero", "/dev/a/b", "wr"},
		"/tmp/node:/dev/node:mr":    {"/tmp/node", "/dev/node", "mr"},
		"/dev/sda:/dev/xvda:rwm":    {"/dev/sda", "/dev/xvda", "rwm"},
		"/dev/net/tun:/dev/net/tun": {"/dev/net/tun", "/dev/net/tun", "rwm"},
	} {
		got, err := ParseDevice(in)
		if err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestParseDeviceRefuses(t *testing.T) {
	for in, why := range map[string]string{
		"":                       "clean absolute path",
		"dev/zero":               "clean absolute path",
		"/dev/../etc/zero":       "clean absolute path",
		"/tmp/node":              "not below /dev",
		"/dev/zero:/tmp/zero":    "not below /dev",
		"/dev/zero:/dev":         "not below /dev",
		"/dev/zero:/dev/":        "clean absolute path",
		"/dev/zero:/dev/pts/9":   "every app's /dev has /dev/pts",
		"/dev/zero":              "every app's /dev has /dev/zero",
		"/dev/zero:/dev/z:rwx":   "not letters of rwm",
		"/dev/zero:/dev/z:rr":    "not letters of rwm",
		"/dev/zero:/dev/z:m":     "neither r nor w",
		"/dev/zero:/dev/z:":      "neither r nor w",
		"/dev/zero:/dev/z:r:w":   "not /dev/X[:PATH][:rwm]",
		"/dev/zero:/dev/z\nx:rw": "control character",
	} {
		_, err := ParseDevice(in)
		if err == nil || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseDevice(%q) = %v; want a usage error saying %q", in, err, why)
		}
	}
}

func TestResolveDevices(t *testing.T) {
	node := filepath.Join(t.TempDir(), "zero")
	if err := unix.Mknod(node, unix.S_IFCHR|0o640, int(unix.Mkdev(1, 5))); err != nil {
		t.Fatal(err)
	}
	got, err := resolveDevices([]DeviceOption{{node, "/dev/myzero", "rwm"}, {"/dev/null", "/dev/n2", "r"}}, "native")
	if err != nil {
		t.Fatal(err)
	}
	want := []stage1.Device{
		{Host: node, Path: "/dev/myzero", Type: "c", Major: 1, Minor: 5, Mode: 0o640, Access: "rw"},
		{Host: "/dev/null", Path: "/dev/n2", Type: "c", Major: 1, Minor: 3, Mode: 0o666, Access: "r"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, c := range []struct {
		opts   []DeviceOption
		flavor string
		why    string
	}{
		{[]DeviceOption{{"/dev/null", "/dev/n", "rw"}}, "fly", "fly app sees the host's /dev"},
		{[]DeviceOption{{"/dev/null", "/dev/n", "rw"}, {"/dev/zero", "/dev/n", "rw"}}, "native", "two devices for /dev/n"},
		{[]DeviceOption{{"/etc/passwd", "/dev/n", "rw"}}, "systemd", "is not a device node"},
		{[]DeviceOption{{"/dev/no-such", "/dev/n", "rw"}}, "systemd", "no such file"},
		{[]DeviceOption{{"/dev", "/dev/n", "rw"}}, "systemd", "is not a device node"},
	} {
		_, err := resolveDevices(c.opts, c.flavor)
		if err == nil || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("resolveDevices(%+v, %s) = %v; want a usage error saying %q", c.opts, c.flavor, err, c.why)
		}
	}
}

// FuzzParseDevice fuzzes --device: what it takes is written back and read
// again to the same value, and a refusal is one line.
func FuzzParseDevice(f *testing.F) {
	addSeeds(f, "/dev/fuse", "/dev/zero:/dev/myzero", "/dev/zero:r", "/dev/zero:/dev/a/b:wr",
		"/dev/zero:/dev/z:rwx", "/dev/zero:/dev", "dev/zero", "::", "/dev/zero:/dev/pts/1", "/a:/dev/b:mrw")
	f.Fuzz(func(t *testing.T, s string) {
		fuzzParser(t, ParseDevice, DeviceOption.String, s)
	})
}
