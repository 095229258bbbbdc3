package tests

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// progressLine is a line of progress off a terminal: a layer or blob done.
var progressLine = regexp.MustCompile(`(?m)^[0-9a-z.-]+: [0-9.]+ (B|KiB|MiB|GiB) in [0-9.]+(m|µ)?s\n`)

// withoutProgress is stderr without the progress lines that come before a
// refusal (the layers stored before a bad one).
func withoutProgress(stderr string) string { return progressLine.ReplaceAllString(stderr, "") }

// Imports and exports off a terminal say one line per layer or blob when
// it is done, and nothing with --quiet (the bar drawn on a terminal is
// covered in internal/progress).
func TestProgressLines(t *testing.T) {
	l := layout{
		cmd:    []string{"/bin/true"},
		layers: [][]byte{layerTar(t, baseEntries(t)), gzipped(layerTar(t, []entry{{name: "x", body: "x"}}))},
	}
	ref := l.write(t, t.TempDir())
	line := regexp.MustCompile(`^[0-9a-f]{12}: [0-9.]+ (B|KiB|MiB) in [0-9.]+m?s$`)
	lines := func(what string, r result, want int) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: %s", what, r)
		}
		got := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if want == 0 {
			if r.stderr != "" {
				t.Fatalf("%s with --quiet printed %q", what, r.stderr)
			}
			return
		}
		if len(got) != want {
			t.Fatalf("%s printed %d lines, want %d: %q", what, len(got), want, r.stderr)
		}
		for _, l := range got {
			if !line.MatchString(l) {
				t.Fatalf("%s printed %q, not a line for a layer done", what, l)
			}
		}
	}
	e := newEnv(t)
	lines("fetch --quiet", e.podctl("fetch", "--quiet", "--insecure-options=image", ref), 0)
	e = newEnv(t)
	r := e.podctl("fetch", "--full", "--insecure-options=image", ref)
	lines("fetch of an OCI layout", r, 2)
	id := strings.TrimSpace(r.stdout)
	out := filepath.Join(t.TempDir(), "x.oci.tar")
	// The config and the two layers.
	lines("export as an OCI archive", e.podctl("image", "export", id, out), 3)
	lines("export --quiet", e.podctl("image", "export", "--quiet", "--overwrite", id, out), 0)

	// An ACI: one line, naming the file.
	r = e.podctl("fetch", "--insecure-options=image", busyboxACI)
	if r.code != 0 || !regexp.MustCompile(`^busybox\.aci: [0-9.]+ (KiB|MiB) in [0-9.]+m?s\n$`).MatchString(r.stderr) {
		t.Fatalf("fetch of an ACI: %s", r)
	}
	if r := e.podctl("image", "export", "example.com/busybox", filepath.Join(t.TempDir(), "b.aci")); r.code != 0 || !strings.HasPrefix(r.stderr, "sha512-") {
		t.Fatalf("export of an ACI: %s", r)
	}
}
