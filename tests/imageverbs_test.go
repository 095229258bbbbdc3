package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// usageRefused checks that a command failed with one podctl line and 254.
func usageRefused(t *testing.T, what string, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 254 || len(lines) != 1 || !strings.HasPrefix(lines[0], "podctl: ") || !strings.Contains(r.stderr, want) {
		t.Errorf("%s: want exit 254 and one line with %q, got %s", what, want, r)
	}
}

func TestImageExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	id := e.fetchBusybox()
	out := filepath.Join(t.TempDir(), "bb.aci")
	e.must("image", "export", "example.com/busybox:1.0", out)
	// The export is the image as imported: fetching it gives the same ID,
	// in another store too.
	e2 := newEnv(t)
	if again := strings.TrimSpace(e2.must("fetch", "--full", "--insecure-options=image", out)); again != id {
		t.Fatalf("fetch of the export gave %s, want %s", again, id)
	}
	if again := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", out)); again != id {
		t.Fatalf("fetch of the export gave %s, want %s", again, id)
	}
	os.WriteFile(out, []byte("keep"), 0o644)
	usageRefused(t, "export over a file", e.podctl("image", "export", id, out), "pass --overwrite")
	if b, _ := os.ReadFile(out); string(b) != "keep" {
		t.Fatal("a refused export changed the file")
	}
	e.must("image", "export", "--overwrite", id[:14], out)
	if fi, err := os.Stat(out); err != nil || fi.Size() < 1000 {
		t.Fatalf("--overwrite: %v %v", fi, err)
	}
	usageRefused(t, "export of an unknown image", e.podctl("image", "export", "example.com/none", out), `no image "example.com/none"`)
	usageRefused(t, "export with one argument", e.podctl("image", "export", id), "image export takes IMAGE FILE")
	usageRefused(t, "export into a folder", e.podctl("image", "export", id, t.TempDir()), "give a file name")
	if names, _ := os.ReadDir(filepath.Dir(out)); len(names) != 1 {
		t.Fatalf("left beside the export: %v", names)
	}
	if r := e.podctl("image", "export", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
		t.Errorf("export --help: %s", r)
	}
}

func TestImageExtractRender(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	for _, verb := range []string{"extract", "render"} {
		parent := t.TempDir()
		whole := filepath.Join(parent, "whole")
		e.must("image", verb, "example.com/busybox", whole)
		if m, err := os.ReadFile(filepath.Join(whole, "manifest")); err != nil || !strings.Contains(string(m), "example.com/busybox") {
			t.Fatalf("%s: manifest %q %v", verb, m, err)
		}
		if fi, err := os.Stat(filepath.Join(whole, "rootfs", "bin", "busybox")); err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("%s: rootfs/bin/busybox %v %v", verb, fi, err)
		}
		if l, err := os.Readlink(filepath.Join(whole, "rootfs", "bin", "sh")); err != nil || l != "busybox" {
			t.Fatalf("%s: bin/sh links to %q (%v)", verb, l, err)
		}
		rootfs := filepath.Join(parent, "rootfs")
		os.Mkdir(rootfs, 0o700) // an empty folder is taken
		e.must("image", verb, "--rootfs-only", "example.com/busybox", rootfs)
		if _, err := os.Stat(filepath.Join(rootfs, "etc", "passwd")); err != nil {
			t.Fatalf("%s --rootfs-only: %v", verb, err)
		}
		if _, err := os.Stat(filepath.Join(rootfs, "manifest")); err == nil {
			t.Fatalf("%s --rootfs-only wrote the manifest", verb)
		}
		usageRefused(t, verb+" into a full folder", e.podctl("image", verb, "example.com/busybox", whole), "is not empty")
		usageRefused(t, verb+" of an unknown image", e.podctl("image", verb, "sha512-00", filepath.Join(parent, "x")), `no image "sha512-00"`)
		usageRefused(t, verb+" with no folder", e.podctl("image", verb, "example.com/busybox"), "image "+verb+" takes IMAGE DIR")
		if names, _ := os.ReadDir(parent); len(names) != 2 {
			t.Fatalf("%s left beside its folders: %v", verb, names)
		}
		if r := e.podctl("image", verb, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "what a pod's apps see") {
			t.Errorf("%s --help: %s", verb, r)
		}
	}
}

func TestImageInspect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	id := e.fetchBusybox()
	var got struct {
		Image struct {
			ID   string   `json:"id"`
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"image"`
		Format   string          `json:"format"`
		Manifest map[string]any  `json:"manifest"`
		Config   json.RawMessage `json:"config"`
	}
	for _, args := range [][]string{{"image", "inspect", "example.com/busybox"}, {"image", "inspect", "--format=json", id[:12]}} {
		out := e.must(args...)
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if got.Image.ID != id || got.Image.Name != "example.com/busybox" || got.Format != "aci" || got.Manifest["name"] != "example.com/busybox" || string(got.Config) != "null" || got.Image.Tags == nil {
			t.Fatalf("%v: %+v", args, got)
		}
	}
	if out := e.must("image", "inspect", "--format=json", id); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("--format=json is not one line: %s", out)
	}
	usageRefused(t, "inspect --format=yaml", e.podctl("image", "inspect", "--format=yaml", id), "unknown --format")
	usageRefused(t, "inspect of an unknown image", e.podctl("image", "inspect", "example.com/none"), "no image")
}

func TestImageTag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	id := e.fetchBusybox()
	if out := strings.TrimSpace(e.must("image", "tag", "--full", "example.com/busybox", "example.com/tools:stable")); out != id {
		t.Fatalf("image tag printed %q", out)
	}
	// run finds the image by its tag.
	if r := e.podctl("run", "--stage1=fly", "example.com/tools:stable", "--exec", "/bin/echo", "--", "tagged"); r.code != 0 || strings.TrimSpace(r.stdout) != "tagged" {
		t.Fatalf("run by tag: %s", r)
	}
	out := e.must("image", "list", "--no-legend")
	if !strings.Contains(out, "example.com/busybox:1.0") || !strings.Contains(out, "example.com/tools:stable") {
		t.Fatalf("image list does not show the tag:\n%s", out)
	}
	var imgs []struct {
		Tags []string `json:"tags"`
	}
	json.Unmarshal([]byte(e.must("image", "list", "--format=json")), &imgs)
	if len(imgs) != 1 || len(imgs[0].Tags) != 1 || imgs[0].Tags[0] != "example.com/tools:stable" {
		t.Fatalf("image list --format=json tags: %+v", imgs)
	}
	usageRefused(t, "tag with a bad name", e.podctl("image", "tag", id, "Bad Name"), "is not an image name")
	usageRefused(t, "tag like an ID", e.podctl("image", "tag", id, "sha512-abc"), "would read as an image ID")
	usageRefused(t, "tag of an unknown image", e.podctl("image", "tag", "example.com/none", "x.org/y"), "no image")
	usageRefused(t, "tag with one argument", e.podctl("image", "tag", id), "image tag takes IMAGE NAME[:VERSION]")

	// image rm of the tag removes the tag only.
	if out := e.must("image", "rm", "example.com/tools:stable"); !strings.HasPrefix(out, "untagged example.com/tools:stable") {
		t.Fatalf("image rm of a tag: %q", out)
	}
	usageRefused(t, "run by a removed tag", e.podctl("run", "--stage1=fly", "example.com/tools:stable"), "no image")
	e.must("image", "cat-manifest", id)
	// Removing the image removes its tags.
	e.must("image", "tag", id, "example.com/tools")
	e.must("image", "rm", id)
	e.fetchBusybox()
	usageRefused(t, "the tag of a removed image", e.podctl("image", "inspect", "example.com/tools"), "no image")
}

func TestImageListFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	e.fetchBusybox()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "x"), []byte("x"), 0o644)
	e.must("image", "import", root, "--name", "other.org/mini", "--label", "tier=web")
	names := func(args ...string) string {
		var imgs []struct {
			Name string `json:"name"`
		}
		out := e.must(append([]string{"image", "list", "--format=json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &imgs); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var n []string
		for _, i := range imgs {
			n = append(n, i.Name)
		}
		return strings.Join(n, " ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "example.com/busybox other.org/mini"},
		{[]string{"--filter", "name=example.com/*"}, "example.com/busybox"},
		{[]string{"--filter", "name=example.com/busybox:1.0"}, "example.com/busybox"},
		{[]string{"--filter", "label=tier"}, "other.org/mini"},
		{[]string{"--filter", "label=tier=db"}, ""},
		{[]string{"--filter", "label=os=linux,label=version=1.0"}, "example.com/busybox"},
		{[]string{"--filter", "since=example.com/busybox"}, "other.org/mini"},
		{[]string{"--filter", "before=other.org/mini"}, "example.com/busybox"},
		{[]string{"--filter", "since=1h"}, "example.com/busybox other.org/mini"},
		{[]string{"--filter", "name=example.com/*", "--filter", "name=other.org/*"}, "example.com/busybox other.org/mini"},
	} {
		if got := names(tc.args...); got != tc.want {
			t.Errorf("image list %v: %q, want %q", tc.args, got, tc.want)
		}
	}
	if out := e.must("image", "list", "--no-legend", "--filter", "label=tier"); strings.Count(out, "\n") != 1 || strings.Contains(out, "ID") {
		t.Errorf("--no-legend with a filter:\n%s", out)
	}
	usageRefused(t, "unknown filter", e.podctl("image", "list", "--filter", "state=running"), `unknown filter "state"`)
	usageRefused(t, "before an unknown image", e.podctl("image", "list", "--filter", "before=example.com/none"), "neither a time")
}

func TestImageRmRefusesUsedImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "fly"
	id := e.fetchBusybox()
	prepared := lastLine(e.must("prepare", "--stage1=fly", "example.com/busybox", "--exec", "/bin/true"))
	r := e.podctl("image", "rm", "example.com/busybox")
	usageRefused(t, "rm of a prepared pod's image", r, "is used by pod(s) "+prepared+" (prepared)")
	if !strings.Contains(r.stderr, "--force") {
		t.Errorf("the refusal does not say how to force: %s", r)
	}
	e.must("image", "cat-manifest", id)

	// A running pod holds it too.
	cmd, running := e.startPod("--stage1=fly", "example.com/busybox", "--exec", "/bin/sleep", "--", "60")
	r = e.podctl("image", "rm", id)
	usageRefused(t, "rm of a running pod's image", r, running+" (running)")
	if !strings.Contains(r.stderr, prepared) {
		t.Errorf("the refusal does not name every pod: %s", r)
	}
	e.must("stop", running)
	cmd.Wait()
	e.must("rm", prepared)
	// Exited pods do not hold it: it goes, and their tree stays for gc.
	if out := e.must("image", "rm", id); !strings.HasPrefix(out, "removed image ") {
		t.Fatalf("image rm once no pod runs it: %q", out)
	}

	// --force removes an image a prepared pod uses; the pod still runs.
	e.fetchBusybox()
	prepared = lastLine(e.must("prepare", "--stage1=fly", "example.com/busybox", "--exec", "/bin/true"))
	e.must("image", "rm", "--force", "example.com/busybox")
	if r := e.podctl("run-prepared", prepared); r.code != 0 {
		t.Fatalf("prepared pod after image rm --force: %s", r)
	}
}
