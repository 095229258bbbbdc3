package store

import (
	"archive/tar"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	s := openStore(t)
	v1 := mustImport(t, s, simpleACI(t, "example.com/app", "version", "1.0"))
	time.Sleep(2 * time.Millisecond) // import times must differ
	v2 := mustImport(t, s, simpleACI(t, "example.com/app", "version", "2.0"))
	other := mustImport(t, s, simpleACI(t, "example.com/other", "version", "latest"))

	full := v1.ID
	sum := ""
	for _, name := range dirNames(t, s.blobDir()) {
		if strings.HasPrefix(name, full[len("sha512-"):]) {
			sum = name
		}
	}
	for ref, want := range map[string]string{
		full:                                v1.ID,
		strings.ToUpper(full[7:]):           "", // not an ID: a name, which does not exist
		"sha512-" + sum:                     v1.ID,
		full[:len("sha512-")+12]:            v1.ID,
		"example.com/app":                   v2.ID,
		"example.com/app:1.0":               v1.ID,
		"example.com/app:2.0":               v2.ID,
		"example.com/app:latest":            v2.ID, // no "latest" label: the newest
		"example.com/other:latest":          other.ID,
		"example.com/other":                 other.ID,
		"example.com/app:3.0":               "",
		"example.com/nothing":               "",
		"sha512-" + strings.Repeat("0", 64): "",
	} {
		got, err := s.Resolve(ref)
		if want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Resolve(%q) = %q, %v; want ErrNotFound", ref, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %s", ref, got, err, want)
		}
	}
	for _, ref := range []string{"sha512-", "sha512-a", "sha512-xyz0", ""} {
		if got, err := s.Resolve(ref); !errors.Is(err, ErrInvalid) {
			t.Errorf("Resolve(%q) = %q, %v; want ErrInvalid", ref, got, err)
		}
	}
}

func TestResolveAmbiguousPrefix(t *testing.T) {
	s := openStore(t)
	// Build images until two IDs share their first two hex digits.
	seen := map[string][]byte{}
	var a, b []byte
	for i := 0; a == nil; i++ {
		data := buildACI(t, manifestJSON(fmt.Sprintf("example.com/amb%d", i)))
		sum := sha512.Sum512(data)
		p := hex.EncodeToString(sum[:1])
		if prev, ok := seen[p]; ok {
			a, b = prev, data
		}
		seen[p] = data
	}
	ia, ib := mustImport(t, s, a), mustImport(t, s, b)
	prefix := ia.ID[:len("sha512-")+2]
	if ib.ID[:len(prefix)] != prefix {
		t.Fatalf("test bug: %s and %s do not share %s", ia.ID, ib.ID, prefix)
	}
	_, err := s.Resolve(prefix)
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "2 images") {
		t.Fatalf("Resolve(%q) error = %v, want ErrAmbiguous saying 2 images", prefix, err)
	}
	// One more digit tells them apart, unless they share it too.
	for _, img := range []Image{ia, ib} {
		n := len(prefix)
		for img.ID[:n] == ia.ID[:n] && img.ID[:n] == ib.ID[:n] {
			n++
		}
		if got, err := s.Resolve(img.ID[:n]); err != nil || got != img.ID {
			t.Errorf("Resolve(%q) = %q, %v; want %s", img.ID[:n], got, err, img.ID)
		}
	}
}

func TestManifestListTouch(t *testing.T) {
	s := openStore(t)
	a := mustImport(t, s, simpleACI(t, "example.com/a", "version", "1"))
	time.Sleep(2 * time.Millisecond)
	b := mustImport(t, s, buildACI(t, manifestJSON("example.com/b"), ent{name: "rootfs/x", typ: tar.TypeDir}))

	im, raw, err := s.Manifest(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if im.Name.String() != "example.com/a" || string(raw) != manifestJSON("example.com/a", "version", "1") {
		t.Errorf("Manifest = %s / %s", im.Name, raw)
	}
	if v, _ := im.GetLabel("version"); v != "1" {
		t.Errorf("version label = %q", v)
	}
	if _, _, err := s.Manifest("sha512-" + strings.Repeat("1", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Manifest of unknown ID: %v, want ErrNotFound", err)
	}

	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, img := range imgs {
		ids = append(ids, img.ID)
	}
	if !reflect.DeepEqual(ids, []string{a.ID, b.ID}) {
		t.Fatalf("List IDs = %v, want %v (import order)", ids, []string{a.ID, b.ID})
	}
	if imgs[0].Name != "example.com/a" || imgs[0].Labels["version"] != "1" || imgs[0].Size != a.Size || !imgs[0].ImportTime.Equal(a.ImportTime) {
		t.Errorf("List[0] = %+v, want %+v", imgs[0], a)
	}

	// A last use recorded a moment ago is not written again.
	if err := s.Touch(a.ID); err != nil {
		t.Fatal(err)
	}
	if imgs, _ := s.List(); !imgs[0].LastUsed.Equal(a.LastUsed) {
		t.Errorf("Touch right after import rewrote the last use: %v, want %v", imgs[0].LastUsed, a.LastUsed)
	}
	s.touchEvery = 0
	before := time.Now()
	if err := s.Touch(a.ID); err != nil {
		t.Fatal(err)
	}
	imgs, _ = s.List()
	if imgs[0].LastUsed.Before(before) || !imgs[0].ImportTime.Equal(a.ImportTime) {
		t.Errorf("after Touch: LastUsed %v (want >= %v), ImportTime %v (want %v)", imgs[0].LastUsed, before, imgs[0].ImportTime, a.ImportTime)
	}
	if !imgs[1].LastUsed.Equal(b.LastUsed) {
		t.Errorf("Touch changed another image: %v", imgs[1].LastUsed)
	}
	if err := s.Touch("sha512-" + strings.Repeat("1", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Touch of unknown ID: %v, want ErrNotFound", err)
	}
}
