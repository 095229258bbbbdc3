package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct{ in, want string }{
		{"docker://busybox", "index.docker.io/library/busybox:latest"},
		{"docker://busybox:1.36", "index.docker.io/library/busybox:1.36"},
		{"docker://docker.io/busybox", "index.docker.io/library/busybox:latest"},
		{"docker://someone/tool:v2", "index.docker.io/someone/tool:v2"},
		{"docker://quay.io/org/app:1", "quay.io/org/app:1"},
		{"docker://127.0.0.1:5000/busybox:1", "127.0.0.1:5000/busybox:1"},
		{"docker://localhost:5000/a/b/c", "localhost:5000/a/b/c:latest"},
		{"docker://127.0.0.1:5000/busybox@" + dig, "127.0.0.1:5000/busybox@" + dig},
		{"docker://127.0.0.1:5000/busybox:1@" + dig, "127.0.0.1:5000/busybox@" + dig},
		{"docker://busybox@" + dig, "index.docker.io/library/busybox@" + dig},
	} {
		ref, err := parseRef(c.in)
		if err != nil {
			t.Errorf("parseRef(%q): %v", c.in, err)
			continue
		}
		if got := ref.Name(); got != c.want {
			t.Errorf("parseRef(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	for _, bad := range []string{
		"", "busybox", "docker://", "docker:// busybox", "docker://Busybox", "docker://busybox:",
		"docker://busybox@sha256:12", "docker://busybox@md5:0123", "oci:./x", "docker://a/b:c:d",
		"docker://" + strings.Repeat("a", 600), "docker://busybox\n",
	} {
		if ref, err := parseRef(bad); err == nil {
			t.Errorf("parseRef(%q) = %s, want an error", bad, ref)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("parseRef(%q): error of more than one line: %q", bad, err)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"docker://busybox", "docker://127.0.0.1:5000/busybox:1", "docker://quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"docker://a:1@sha256:00", "docker://[::1]:5000/x", "docker://x/y/z:t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseRef(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		// What was read reads back the same.
		again, err := parseRef(dockerScheme + ref.Name())
		if err != nil {
			t.Fatalf("parseRef(%q) = %s, which does not parse again: %v", s, ref.Name(), err)
		}
		if again.Name() != ref.Name() {
			t.Fatalf("parseRef(%q) = %s, read back as %s", s, ref.Name(), again.Name())
		}
		if _, err := onHost(ref, "127.0.0.1:5000"); err != nil {
			t.Fatalf("onHost(%s): %v", ref.Name(), err)
		}
	})
}

func TestMirrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, mirrorsFile), []byte(`{"mirrors":{"docker.io":["127.0.0.1:5000","mirror.example:443"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m := mirrorSet{}
	if err := loadMirrors(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := m.addFlag("quay.io=127.0.0.1:5001"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m["index.docker.io"], ","); got != "127.0.0.1:5000,mirror.example:443" {
		t.Errorf("docker.io mirrors = %s", got)
	}
	if got := strings.Join(m["quay.io"], ","); got != "127.0.0.1:5001" {
		t.Errorf("quay.io mirrors = %s", got)
	}
	ref, err := parseRef("docker://busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	on, err := onHost(ref, "127.0.0.1:5000")
	if err != nil || on.Name() != "127.0.0.1:5000/library/busybox:1" {
		t.Errorf("onHost = %v, %v", on, err)
	}
	for _, bad := range []string{"docker.io", "=x", "docker.io=", "docker.io=http://x", "docker.io=x/y"} {
		if err := (mirrorSet{}).addFlag(bad); err == nil {
			t.Errorf("--mirror %q accepted", bad)
		}
	}
	if _, err := parseRegistries("f", strings.NewReader(`{"mirror":{}}`)); err == nil {
		t.Error("a mirrors file with an unknown field is accepted")
	}
	if err := loadMirrors(t.TempDir(), mirrorSet{}); err != nil {
		t.Errorf("no mirrors file: %v", err)
	}
}

func TestNormalizeAuthHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://index.docker.io/v1/": "index.docker.io",
		"docker.io":                   "index.docker.io",
		"127.0.0.1:5000":              "127.0.0.1:5000",
		"quay.io/org/repo":            "quay.io",
		"http://r.example:8080":       "r.example:8080",
	} {
		if got := normalizeAuthHost(in); got != want {
			t.Errorf("normalizeAuthHost(%q) = %q, want %q", in, got, want)
		}
	}
}
