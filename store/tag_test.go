package store

import (
	"errors"
	"reflect"
	"testing"
)

func TestTags(t *testing.T) {
	s := openStore(t)
	a := mustImport(t, s, simpleACI(t, "example.com/a", "version", "1"))
	b := mustImport(t, s, simpleACI(t, "example.com/b", "version", "1"))

	if err := s.Tag(a.ID, "example.com/app:stable"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"example.com/app:stable", "example.com/app", "example.com/app:latest", "example.com/a:1"} {
		if id, err := s.Resolve(ref); err != nil || id != a.ID {
			t.Errorf("Resolve(%s) = %s, %v; want %s", ref, id, err, a.ID)
		}
	}
	if _, err := s.Resolve("example.com/app:2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a version no tag has: %v", err)
	}
	// A tag is newer than b's import: the name b now also has wins.
	if err := s.Tag(b.ID, "example.com/a"); err != nil {
		t.Fatal(err)
	}
	if id, _ := s.Resolve("example.com/a"); id != b.ID {
		t.Errorf("Resolve(example.com/a) = %s, want the newer tag's %s", id, b.ID)
	}
	if id, _ := s.Resolve("example.com/a:1"); id != a.ID {
		t.Errorf("Resolve(example.com/a:1) = %s, want the image labelled 1, %s", id, a.ID)
	}
	// Tagging again moves the tag.
	if err := s.Tag(b.ID, "example.com/app:stable"); err != nil {
		t.Fatal(err)
	}
	if id, _ := s.Resolve("example.com/app:stable"); id != b.ID {
		t.Errorf("moved tag resolves to %s, want %s", id, b.ID)
	}
	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{a.ID: {}, b.ID: {"example.com/a", "example.com/app:stable"}}
	for _, img := range imgs {
		if !reflect.DeepEqual(img.Tags, want[img.ID]) {
			t.Errorf("tags of %s = %v, want %v", img.Name, img.Tags, want[img.ID])
		}
	}
	if ok, _ := s.IsTag("example.com/a"); !ok {
		t.Error("IsTag(example.com/a) = false")
	}
	if id, err := s.Untag("example.com/a"); err != nil || id != b.ID {
		t.Fatalf("Untag = %s, %v", id, err)
	}
	if _, err := s.Untag("example.com/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Untag twice: %v", err)
	}
	// Removing an image removes its tags.
	if err := s.Remove(b.ID, false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsTag("example.com/app:stable"); ok {
		t.Error("the tag of a removed image is left")
	}
	if err := s.Tag(b.ID, "example.com/x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tagging a removed image: %v", err)
	}
	for _, bad := range []string{"", "Example.com/UP", "sha512-abcd", "example.com/x:", "example.com/x:a b", "/abs"} {
		if err := s.Tag(a.ID, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Tag(%q): %v, want ErrInvalid", bad, err)
		}
	}
}
