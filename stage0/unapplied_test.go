package stage0

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/manifest"
)

const testManifestHead = `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/t","app":`

func TestUnapplied(t *testing.T) {
	for _, c := range []struct{ app, want string }{
		{`{"exec":["/bin/x"],"user":"0","group":"0"}`, ""},
		{`{"exec":["/bin/x"],"user":"0","group":"0","isolators":[{"name":"resource/memory","value":{"limit":"64Mi"}},
{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_CHOWN"]}},
{"name":"os/linux/no-new-privileges","value":true}],
"eventHandlers":[{"name":"pre-start","exec":["/bin/p"]},{"name":"post-stop","exec":["/bin/p"]}],
"mountPoints":[{"name":"d","path":"/d"}],"ports":[{"name":"www","protocol":"tcp","port":80}]}`, ""},
		{`{"exec":["/bin/x"],"user":"0","group":"0","isolators":[{"name":"os/linux/cpu-shares","value":512},
{"name":"os/linux/no-new-privileges","value":false},{"name":"resource/cpu","value":{"request":"100m"}}],
"ports":[{"name":"www","protocol":"tcp","port":80,"socketActivated":true}],"supplementaryGIDs":[5]}`,
			"isolator os/linux/cpu-shares, isolator os/linux/no-new-privileges false (give --no-new-privileges=false), " +
				"isolator resource/cpu request (podctl applies limits only)"},
	} {
		m, err := manifest.ParseImage([]byte(testManifestHead + c.app + "}"))
		if err != nil {
			t.Fatalf("%s: %v", c.app, err)
		}
		if got := strings.Join(unapplied(m), ", "); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.app, got, c.want)
		}
	}
}

// FuzzUnapplied: any image manifest podctl takes is told over without a
// panic, each ignored field named on the one line.
func FuzzUnapplied(f *testing.F) {
	f.Add([]byte(testManifestHead + `{"exec":["/bin/x"],"user":"0","group":"0","isolators":[{"name":"os/linux/cpu-shares","value":512}]}}`))
	f.Add([]byte(testManifestHead + `{"exec":["/bin/x"],"user":"0","group":"0","eventHandlers":[{"name":"x","exec":["/y"]}],"ports":[{"name":"a","protocol":"tcp","port":1,"socketActivated":true}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := manifest.ParseImage(data)
		if err != nil {
			return
		}
		for _, s := range unapplied(m) {
			if strings.ContainsAny(s, "\n\r") && !strings.ContainsAny(string(data), "\n\r\\") {
				t.Fatalf("%q is not one line", s)
			}
		}
	})
}

func TestJoinMountPoints(t *testing.T) {
	tree := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tree, "cache"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(tree, "cache"), 1000, 1001); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(tree, "etclink")); err != nil {
		t.Fatal(err)
	}
	app := func(name string, mounts []schema.Mount, mps ...types.MountPoint) plannedApp {
		return plannedApp{name: types.ACName(name), tree: tree, mounts: mounts,
			manifest: &schema.ImageManifest{Name: "example.com/t"}, app: &types.App{MountPoints: mps}}
	}
	pl := &plan{opts: &PrepareOptions{Volumes: []types.Volume{{Name: "given", Kind: "host", Source: "/srv"}}}}
	pl.apps = []plannedApp{
		app("a", []schema.Mount{{Volume: "given", Path: "/mine"}},
			types.MountPoint{Name: "other", Path: "/mine/"}, // the user's mount wins
			types.MountPoint{Name: "given", Path: "/data"},
			types.MountPoint{Name: "cache", Path: "/cache", ReadOnly: true},
			types.MountPoint{Name: "linked", Path: "/etclink"}),
		app("b", nil, types.MountPoint{Name: "cache", Path: "/var/cache"}),
	}
	if err := pl.joinMountPoints(); err != nil {
		t.Fatal(err)
	}
	mounts := func(a plannedApp) string {
		var out []string
		for _, m := range a.mounts {
			out = append(out, m.Volume.String()+":"+m.Path)
		}
		return strings.Join(out, " ")
	}
	if got := mounts(pl.apps[0]); got != "given:/mine given:/data cache:/cache linked:/etclink" {
		t.Errorf("app a mounts %s", got)
	}
	if got := mounts(pl.apps[1]); got != "cache:/var/cache" {
		t.Errorf("app b mounts %s", got)
	}
	if len(pl.implicit) != 2 {
		t.Fatalf("implicit volumes %+v", pl.implicit)
	}
	c, l := pl.implicit[0], pl.implicit[1]
	if c.Name != "cache" || c.Kind != "empty" || c.ReadOnly == nil || !*c.ReadOnly || *c.Mode != "0750" || *c.UID != 1000 || *c.GID != 1001 {
		t.Errorf("implicit volume cache: %+v", c)
	}
	if l.Name != "linked" || *l.Mode != "0755" || *l.UID != 0 || l.ReadOnly != nil {
		t.Errorf("the implicit volume of a link took something from it: %+v", l)
	}
	for _, bad := range []types.MountPoint{{Name: "rel", Path: "data"}, {Name: "proc", Path: "/proc/x"}} {
		pl := &plan{opts: &PrepareOptions{}, apps: []plannedApp{app("a", nil, bad)}}
		err := pl.joinMountPoints()
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "mount point "+bad.Name.String()) {
			t.Errorf("%+v: want a usage error naming it, got %v", bad, err)
		}
	}
}

func TestCheckHandlers(t *testing.T) {
	pl := &plan{apps: []plannedApp{{manifest: &schema.ImageManifest{Name: "example.com/t"},
		app: &types.App{EventHandlers: []types.EventHandler{{Name: "pre-start", Exec: types.Exec{"/p"}}, {Name: "post-stop"}}}}}}
	err := pl.checkHandlers()
	if !errors.Is(err, ErrUsage) || err.Error() != "image example.com/t: its post-stop event handler has no command (exec): fix the image" {
		t.Fatalf("got %v", err)
	}
	pl.apps[0].app.EventHandlers = pl.apps[0].app.EventHandlers[:1]
	if err := pl.checkHandlers(); err != nil {
		t.Fatal(err)
	}
}
