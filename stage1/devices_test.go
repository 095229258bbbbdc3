package stage1

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDevices(t *testing.T) {
	devs := []Device{{Host: "/dev/fuse", Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, Mode: 0o600, Access: "rw"},
		{Host: "/tmp/sda", Path: "/dev/disk/a", Type: "b", Major: 8, Minor: 0, Mode: 0o660, Access: "r"}}
	v, err := FormatDevices(devs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDevices(v)
	if err != nil || !reflect.DeepEqual(got, devs) {
		t.Fatalf("ParseDevices(%s) = %+v, %v", v, got, err)
	}
	for v, why := range map[string]string{
		`{}`: "reading devices",
		`[{"host":"/dev/a","path":"/dev/a","type":"c","major":1,"minor":1,"access":"rw"},{"host":"/dev/b","path":"/dev/a","type":"c","major":1,"minor":2,"access":"r"}]`: "two devices for /dev/a",
		`[{"host":"dev/a","path":"/dev/a","type":"c","access":"rw"}]`:              "not an absolute path",
		`[{"host":"/dev/a","path":"/etc/a","type":"c","access":"rw"}]`:             "not below /dev",
		`[{"host":"/dev/a","path":"/dev/../etc/a","type":"c","access":"rw"}]`:      "not a clean absolute path",
		`[{"host":"/dev/a","path":"/dev/null","type":"c","access":"rw"}]`:          "every app's /dev has /dev/null",
		`[{"host":"/dev/a","path":"/dev/a","type":"p","access":"rw"}]`:             "neither c nor b",
		`[{"host":"/dev/a","path":"/dev/a","type":"c","access":"rwm"}]`:            "not r, w or rw",
		`[{"host":"/dev/a","path":"/dev/a","type":"c","major":4096,"access":"r"}]`: "out of range",
		`[{"host":"/dev/a","path":"/dev/a","type":"c","mode":2048,"access":"r"}]`:  "more than permission bits",
	} {
		if _, err := ParseDevices(v); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseDevices(%s) = %v; want an error saying %q", v, err, why)
		}
	}
}

// FuzzParseDevices fuzzes the pod manifest's annotation of devices, which
// stage1 reads back from the pod: no panic, and what it takes is written
// and read again to the same devices.
func FuzzParseDevices(f *testing.F) {
	for _, s := range []string{`[]`, `null`, `[{"host":"/dev/fuse","path":"/dev/fuse","type":"c","major":10,"minor":229,"mode":384,"access":"rw"}]`,
		`[{"host":"/x","path":"/dev/pts/0","type":"b","access":"r"}]`, `[{"type":"c"}]`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		devs, err := ParseDevices(s)
		if err != nil {
			return
		}
		for _, d := range devs {
			if err := d.Check(); err != nil {
				t.Fatalf("%q taken with %+v: %v", s, d, err)
			}
		}
		v, err := FormatDevices(devs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseDevices(v)
		if err != nil || len(again) != len(devs) || (len(devs) > 0 && !reflect.DeepEqual(again, devs)) {
			t.Fatalf("%q read as %+v, written as %s, read as %+v, %v", s, devs, v, again, err)
		}
	})
}
