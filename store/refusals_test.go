package store

import (
	"archive/tar"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// An image the kernel or appc could never run is refused at import, with
// the entry or field named, and the store keeps nothing of it.
func TestImportRefusesUnrunnable(t *testing.T) {
	long := strings.Repeat("n", 256)
	deep := strings.Repeat(strings.Repeat("d", 200)+"/", 21) // 4,221 bytes
	withExec := func(exec string) string {
		return `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x",` +
			`"app":{"exec":["` + exec + `"],"user":"0","group":"0"}}`
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"name over 255 bytes":  {buildACI(t, manifestJSON("example.com/x"), ent{name: "rootfs/" + long, body: "x"}), "name of 256 bytes"},
		"path over 4095 bytes": {buildACI(t, manifestJSON("example.com/x"), ent{name: "rootfs/" + deep + "f", body: "x"}), "path of 4223 bytes"},
		"symlink target over 4095 bytes": {buildACI(t, manifestJSON("example.com/x"),
			ent{name: "rootfs/l", typ: tar.TypeSymlink, link: strings.Repeat("a/", 2048)}), "links to a path of 4096 bytes"},
		"relative exec":     {buildACI(t, withExec("sh")), `app.exec starts with "sh", not an absolute path`},
		"dot-relative exec": {buildACI(t, withExec("./run")), `app.exec starts with "./run"`},
	}
	for name, c := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			s := openStore(t)
			_, err := s.Import(bytes.NewReader(c.data))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Import error = %v, want one wrapping ErrInvalid saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("Import error is more than one line: %q", err)
			}
			assertEmpty(t, s)
		})
	}
}

// Names at the kernel's limits and an absolute exec are taken, and the
// image extracts.
func TestImportTakesNamesAtTheLimits(t *testing.T) {
	requireRoot(t)
	s := openStore(t)
	name := strings.Repeat("n", 255)
	m := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x",` +
		`"app":{"exec":["/bin/sh"],"user":"0","group":"0"}}`
	long := strings.Repeat(strings.Repeat("d", 250)+"/", 16) + strings.Repeat("f", 78) // "/" and 4,094 bytes
	img := mustImport(t, s, buildACI(t, m, ent{name: "rootfs/" + name, body: "x"}, ent{name: "rootfs/" + long, body: "x"},
		ent{name: "rootfs/l", typ: tar.TypeSymlink, link: strings.Repeat("a", 4095)}))
	if _, err := s.Tree(img.ID); err != nil {
		t.Fatalf("an image at the kernel's limits does not extract: %v", err)
	}
}

// Device nodes are stored in the blob but never extracted; the import
// says which there were, so the caller can tell the user once.
func TestImportNotesDevices(t *testing.T) {
	s := openStore(t)
	data := buildACI(t, manifestJSON("example.com/dev"),
		ent{name: "rootfs/dev/", typ: tar.TypeDir},
		ent{name: "rootfs/dev/null", typ: tar.TypeChar, major: 1, minor: 3},
		ent{name: "rootfs/dev/sda", typ: tar.TypeBlock, major: 8, minor: 0},
	)
	_, notes, err := s.ImportNoting(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/dev/null", "/dev/sda"}; !reflect.DeepEqual(notes.Devices, want) {
		t.Fatalf("ImportNoting noted devices %q, want %q", notes.Devices, want)
	}
	_, notes, err = s.ImportNoting(bytes.NewReader(simpleACI(t, "example.com/plain")))
	if err != nil {
		t.Fatal(err)
	}
	if len(notes.Devices) != 0 {
		t.Fatalf("ImportNoting noted devices %q in an image without any", notes.Devices)
	}
}
