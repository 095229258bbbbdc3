package lifecycle

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// writeManifest writes a pod manifest with the annotations given.
func writeManifest(t *testing.T, p *Pod, mutable bool) {
	t.Helper()
	m := schema.BlankPodManifest()
	if mutable {
		m.Annotations.Set(AnnotationMutable, "true")
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	writePodFile(t, p, FileManifest, b)
}

// The manifest of a pod that is not mutable is never changed, and the
// refusal is of class ErrImmutable, in one line.
func TestUpdateManifestRefusesImmutable(t *testing.T) {
	p := mustNewPod(t, newDataDir(t))
	writeManifest(t, p, false)
	before, err := p.ReadFile(FileManifest)
	if err != nil {
		t.Fatal(err)
	}
	called := false
	err = p.UpdateManifest(func(*schema.PodManifest) error { called = true; return nil })
	if !errors.Is(err, ErrImmutable) || called {
		t.Fatalf("UpdateManifest of an immutable pod: %v (change called: %t)", err, called)
	}
	checkOneLine(t, err)
	if _, _, err := p.SandboxManifest(); !errors.Is(err, ErrImmutable) {
		t.Fatalf("SandboxManifest of an immutable pod: %v", err)
	}
	after, _ := p.ReadFile(FileManifest)
	if string(after) != string(before) {
		t.Fatalf("the manifest changed: %s", after)
	}
}

// A mutable pod's manifest takes the change; a change that fails leaves
// it as it was.
func TestUpdateManifestMutable(t *testing.T) {
	p := mustNewPod(t, newDataDir(t))
	writeManifest(t, p, true)
	hash, err := types.NewHash("sha512-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	add := func(m *schema.PodManifest) error {
		m.Apps = append(m.Apps, schema.RuntimeApp{Name: "web", Image: schema.RuntimeImage{ID: *hash},
			App: &types.App{Exec: types.Exec{"/bin/true"}, User: "0", Group: "0"}})
		return nil
	}
	if err := p.UpdateManifest(add); err != nil {
		t.Fatal(err)
	}
	_, m, err := p.SandboxManifest()
	if err != nil || m.Apps.Get("web") == nil || !IsMutable(m) {
		t.Fatalf("after the update: %v %+v", err, m)
	}
	failed := errors.New("refused")
	err = p.UpdateManifest(func(m *schema.PodManifest) error { m.Apps = nil; return failed })
	if !errors.Is(err, failed) {
		t.Fatalf("a failing change: %v", err)
	}
	if _, m, _ := p.SandboxManifest(); m.Apps.Get("web") == nil {
		t.Fatal("a failing change was written")
	}
}
