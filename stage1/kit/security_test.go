package kit

import (
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/cgroup"
	"podctl/lifecycle"
	"podctl/stage1"
)

// The annotations of a read-only root and of devices become the app's
// spec: the tmpfs folders it keeps writable, the nodes of its /dev and the
// rules of its device policy.
func TestAppSpecsSecurity(t *testing.T) {
	m := schema.BlankPodManifest()
	devs := []stage1.Device{{Host: "/dev/fuse", Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, Mode: 0o600, Access: "rw"}}
	v, err := stage1.FormatDevices(devs)
	if err != nil {
		t.Fatal(err)
	}
	m.Annotations.Set(lifecycle.AnnotationDevices, v)
	ro := schema.RuntimeApp{Name: "ro", App: &types.App{Exec: []string{"/bin/true"}}}
	ro.Annotations.Set(lifecycle.AnnotationReadOnlyRootfs, "true")
	rw := schema.RuntimeApp{Name: "rw", App: &types.App{Exec: []string{"/bin/true"}}}
	m.Apps = append(m.Apps, ro, rw)
	specs, err := AppSpecs(podAt(t, t.TempDir(), "5b1f2c3d-0000-4000-8000-000000000000"), m)
	if err != nil {
		t.Fatal(err)
	}
	if !specs[0].ReadOnlyRootfs || !reflect.DeepEqual(specs[0].Tmpfs, scratchTmpfs) {
		t.Errorf("read-only app: %v, tmpfs %+v", specs[0].ReadOnlyRootfs, specs[0].Tmpfs)
	}
	if specs[1].ReadOnlyRootfs || specs[1].Tmpfs != nil {
		t.Errorf("app without the annotation: %v, tmpfs %+v", specs[1].ReadOnlyRootfs, specs[1].Tmpfs)
	}
	for _, s := range specs {
		if !reflect.DeepEqual(s.Devices, devs) || !reflect.DeepEqual(s.Limits.ExtraDevices, []cgroup.Device{{Type: 'c', Major: 10, Minor: 229, Access: "rw"}}) {
			t.Errorf("app %s: devices %+v, rules %+v", s.Name, s.Devices, s.Limits.ExtraDevices)
		}
	}

	ro.Annotations.Set(lifecycle.AnnotationReadOnlyRootfs, "yes")
	m.Apps = []schema.RuntimeApp{ro}
	if _, err := AppSpecs(podAt(t, t.TempDir(), "5b1f2c3d-0000-4000-8000-000000000001"), m); err == nil || !strings.Contains(err.Error(), "neither true nor false") {
		t.Errorf("readonly-rootfs=yes: %v", err)
	}
	m.Apps = []schema.RuntimeApp{rw}
	m.Annotations.Set(lifecycle.AnnotationDevices, `[{"host":"/dev/sda","path":"/etc/sda","type":"b","access":"rw"}]`)
	if _, err := AppSpecs(podAt(t, t.TempDir(), "5b1f2c3d-0000-4000-8000-000000000002"), m); err == nil || !strings.Contains(err.Error(), "not below /dev") {
		t.Errorf("a device outside /dev: %v", err)
	}
}
