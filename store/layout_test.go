package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"podctl/internal/layout"
	"podctl/internal/version"
)

func TestLayoutWrittenWhenMade(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileLayout))
	if err != nil {
		t.Fatalf("a new store has no layout file: %v", err)
	}
	r, err := layout.Parse(b)
	if err != nil || r.Layout != LayoutVersion || r.WrittenBy != "podctl "+version.Podctl {
		t.Fatalf("a new store's layout file holds %q (%+v, %v)", b, r, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileLayout)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("layout file: %v, %v", fi, err)
	}
}

// A store made before layout versions has an index and no layout file: it
// is version 1, opens, and is left without the file.
func TestLayoutMissingIsVersion1(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, FileLayout)); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("a store without a layout file: %v", err)
	}
	if _, err := s.List(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileLayout)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a store of version 1 without a layout file was given one (%v)", err)
	}
}

// A store of a newer layout is refused before Open touches anything: not
// even the garbage in tmp/ is cleaned.
func TestLayoutNewerRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileLayout), []byte(`{"layout":2,"written_by":"podctl 0.9.0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, "tmp", "left")
	if err := os.WriteFile(left, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	want := "image store " + dir + " has layout version 2, written by podctl 0.9.0; this podctl (" + version.Podctl + ") knows version 1: use a newer podctl"
	var newer *layout.NewerError
	if !errors.As(err, &newer) || err.Error() != want {
		t.Fatalf("Open of a store of layout 2 = %v, want %q", err, want)
	}
	if _, err := os.Stat(left); err != nil {
		t.Fatalf("Open of a store of layout 2 cleaned its tmp/: %v", err)
	}
}

func TestLayoutDamagedRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileLayout), []byte("{\"layout\":\n\"x\"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	var damaged *layout.DamagedError
	if !errors.As(err, &damaged) || strings.ContainsAny(err.Error(), "\r\n") || !strings.HasPrefix(err.Error(), "image store "+dir+" has a layout file") {
		t.Fatalf("Open of a store with a damaged layout file = %v, want one line naming it", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of a store with a damaged layout file made an index (%v)", err)
	}
}
