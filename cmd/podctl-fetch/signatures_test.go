package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"podctl/store"
)

// lookasideDir writes sigs as signature-1, -2, ... of repo's digest under
// a new folder, which it returns.
func lookasideDir(t *testing.T, repo, digest string, sigs ...[]byte) string {
	t.Helper()
	base := t.TempDir()
	for i, s := range sigs {
		p := filepath.Join(base, filepath.FromSlash(sigLocation(repo, digest, i+1)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, s, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// serveDir serves base over HTTP on 127.0.0.1 and counts the requests.
func serveDir(t *testing.T, base string) (*lookaside, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.FileServer(http.Dir(base)).ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	la, err := parseLookaside(srv.URL+"/sigs", true)
	if err != nil {
		t.Fatal(err)
	}
	return &la, &n
}

func TestSignaturesFromDirAndHTTP(t *testing.T) {
	repo := "127.0.0.1:5000/team/app"
	sigs := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	base := lookasideDir(t, repo, testDigest, sigs...)
	// The web server serves base/sigs.
	web := t.TempDir()
	if err := os.Symlink(base, filepath.Join(web, "sigs")); err != nil {
		t.Fatal(err)
	}
	httpLA, requests := serveDir(t, web)
	f := newSigFetcher(false, 5*time.Second)
	for _, l := range []lookaside{{dir: base}, *httpLA} {
		got, err := f.signatures(context.Background(), l, repo, testDigest)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if len(got) != 3 {
			t.Fatalf("%s: %d signatures, want 3", l, len(got))
		}
		for i, s := range got {
			if !bytes.Equal(s.sig, sigs[i]) || !strings.HasSuffix(s.where, fmt.Sprintf("/team/app@sha256=%s/signature-%d", strings.TrimPrefix(testDigest, "sha256:"), i+1)) {
				t.Errorf("%s: signature %d is %q from %s", l, i+1, s.sig, s.where)
			}
		}
	}
	// The 404 of signature-4 ended the list.
	if n := requests.Load(); n != 4 {
		t.Errorf("%d requests, want 3 signatures and one 404", n)
	}
	// Another digest has none, in either.
	for _, l := range []lookaside{{dir: base}, *httpLA} {
		if got, err := f.signatures(context.Background(), l, repo, "sha256:"+strings.Repeat("1", 64)); err != nil || len(got) != 0 {
			t.Errorf("%s, another digest: %d, %v", l, len(got), err)
		}
	}
}

func TestSignaturesBounds(t *testing.T) {
	repo := "example.com/app"
	// More than maxSignatures: only maxSignatures are read.
	many := make([][]byte, maxSignatures+4)
	for i := range many {
		many[i] = []byte{byte(i)}
	}
	f := newSigFetcher(false, 5*time.Second)
	base := lookasideDir(t, repo, testDigest, many...)
	web := t.TempDir()
	os.Symlink(base, filepath.Join(web, "sigs"))
	httpLA, requests := serveDir(t, web)
	for _, l := range []lookaside{{dir: base}, *httpLA} {
		got, err := f.signatures(context.Background(), l, repo, testDigest)
		if err != nil || len(got) != maxSignatures {
			t.Errorf("%s: %d signatures, %v; want %d", l, len(got), err, maxSignatures)
		}
	}
	if n := requests.Load(); n != maxSignatures {
		t.Errorf("%d requests, want %d", n, maxSignatures)
	}
	// A signature over maxSignature bytes is refused, from a file or
	// over HTTP.
	big := lookasideDir(t, repo, testDigest, []byte("ok"), bytes.Repeat([]byte("x"), maxSignature+1))
	web = t.TempDir()
	os.Symlink(big, filepath.Join(web, "sigs"))
	httpBig, _ := serveDir(t, web)
	for _, l := range []lookaside{{dir: big}, *httpBig} {
		if _, err := f.signatures(context.Background(), l, repo, testDigest); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s: an oversized signature gave %v", l, err)
		}
	}
	// A server error is not the end of the list.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	l, _ := parseLookaside(srv.URL, true)
	if _, err := f.signatures(context.Background(), l, repo, testDigest); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503 gave %v", err)
	}
}

func TestParseLookaside(t *testing.T) {
	for in, want := range map[string]string{
		"file:///srv/sigs/":             "/srv/sigs",
		"file://localhost/srv/sigs":     "/srv/sigs",
		"https://sigs.example.com/a/b":  "https://sigs.example.com/a/b",
		"http://127.0.0.1:8080/sigs":    "http://127.0.0.1:8080/sigs",
		"/var/lib/podctl/../signatures": "/var/lib/signatures",
	} {
		l, err := parseLookaside(in, false)
		if err != nil || l.String() != want {
			t.Errorf("parseLookaside(%q) = %s, %v; want %s", in, l, err, want)
		}
	}
	for _, bad := range []string{"sigs", "file://host/x", "file://rel", "ftp://x/y", "https:///x", "https://u:p@x/y", "https://x/y?q=1", "://", "file:///x#f"} {
		if l, err := parseLookaside(bad, false); err == nil {
			t.Errorf("parseLookaside(%q) accepted: %s", bad, l)
		}
	}
	if _, err := parseLookaside("/srv/sigs", true); err == nil {
		t.Error("a bare folder accepted where a URL is wanted")
	}
}

func TestParseRegistriesLookaside(t *testing.T) {
	regs, err := parseRegistries("f", strings.NewReader(`{"mirrors": {"docker.io": ["127.0.0.1:5000"]},
		"lookaside": {"docker.io": "https://sigs.example.com", "127.0.0.1:5000": "file:///srv/sigs"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if l := regs.lookaside["index.docker.io"]; l.String() != "https://sigs.example.com" {
		t.Errorf("docker.io's lookaside: %s", l)
	}
	if l := regs.lookaside["127.0.0.1:5000"]; l.dir != "/srv/sigs" {
		t.Errorf("127.0.0.1:5000's lookaside: %s", l)
	}
	if m := regs.mirrors["index.docker.io"]; len(m) != 1 {
		t.Errorf("mirrors: %v", regs.mirrors)
	}
	for _, bad := range []string{`{"lookaside": {"docker.io": "/srv"}}`, `{"lookaside": {"docker.io": ""}}`,
		`{"lookaside": {"a b": "file:///x"}}`, `{"lookaside": {"docker.io": 1}}`, `{"lookaside": []}`} {
		if _, err := parseRegistries("f", strings.NewReader(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzParseRegistries(f *testing.F) {
	f.Add([]byte(`{"mirrors": {"docker.io": ["127.0.0.1:5000"]}, "lookaside": {"docker.io": "https://sigs.example.com/x"}}`))
	f.Add([]byte(`{"lookaside": {"127.0.0.1:5000": "file:///srv/sigs"}}`))
	f.Add([]byte(`{"lookaside": {"quay.io": "http://[::1]:80/%2e%2e/"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		regs, err := parseRegistries("f", bytes.NewReader(b))
		if err != nil {
			return
		}
		for reg, l := range regs.lookaside {
			if (l.url == nil) == (l.dir == "") {
				t.Fatalf("lookaside of %s is neither a folder nor a URL: %+v", reg, l)
			}
			if l.url == nil && !filepath.IsAbs(l.dir) {
				t.Fatalf("lookaside of %s is a relative folder %q", reg, l.dir)
			}
			if l.url != nil && l.url.Scheme != "http" && l.url.Scheme != "https" {
				t.Fatalf("lookaside of %s has scheme %q", reg, l.url.Scheme)
			}
		}
	})
}

// TestImagePolicy is the decision: pinned, skipped, signed by a trusted
// key, or refused in one line that says why and how to skip the check.
func TestImagePolicy(t *testing.T) {
	signer := newGPGKey(t, "Builds <builds@example.com>")
	other := newGPGKey(t, "Other <other@example.com>")
	manifest := []byte(`{"schemaVersion":2}`)
	digest := digestOf(manifest)
	ident := "example.com/app:1.0"
	good := signer.sign(t, simplePayloadJSON(digest, ident))
	other2 := signer.sign(t, simplePayloadJSON(digest, "example.com/app:2.0"))
	local := lookasideDir(t, "example.com/app", digest, other2, good)
	wrongRef := lookasideDir(t, "example.com/app", digest, other2)
	empty := t.TempDir()
	web := t.TempDir()
	os.Symlink(local, filepath.Join(web, "sigs"))
	httpLA, _ := serveDir(t, web)
	trusted := keyringOf(t, map[*gpgKey][]string{signer: {"example.com/app"}})
	image := func(format string, pinned bool) *store.LayeredImage {
		return &store.LayeredImage{Format: format, Name: "example.com/app", Tag: "1.0", Manifest: manifest, ManifestDigest: digest, Pinned: pinned}
	}
	cases := []struct {
		name   string
		p      imagePolicy
		li     *store.LayeredImage
		want   string // "" for accepted
		signed bool
	}{
		{"signed in the local folder", imagePolicy{local: lookaside{dir: local}, keys: trusted}, image(store.FormatOCI, false), "", true},
		{"signed in the registry's lookaside", imagePolicy{local: lookaside{dir: empty}, registry: map[string]lookaside{"example.com": *httpLA}, keys: trusted}, image(store.FormatOCI, false), "", true},
		{"--signatures overrides", imagePolicy{local: lookaside{dir: local}, override: &lookaside{dir: empty}, keys: trusted}, image(store.FormatOCI, false), "no signature found (looked for example.com/app@sha256=", false},
		{"no signature", imagePolicy{local: lookaside{dir: empty}, keys: trusted}, image(store.FormatOCI, false), "no signature found", false},
		{"no key trusted", imagePolicy{local: lookaside{dir: local}, keys: keyring{}}, image(store.FormatOCI, false), "not trusted for example.com/app: trust it with podctl trust --prefix=example.com/app KEYFILE (and 1 more refused); --insecure-options=image skips the check", false},
		{"another identity", imagePolicy{local: lookaside{dir: wrongRef}, keys: trusted}, image(store.FormatOCI, false), "is for example.com/app:2.0, not example.com/app:1.0; --insecure-options=image skips the check", false},
		{"another key trusted", imagePolicy{local: lookaside{dir: local}, keys: keyringOf(t, map[*gpgKey][]string{other: {""}})}, image(store.FormatOCI, false), "not trusted", false},
		{"pinned", imagePolicy{local: lookaside{dir: empty}}, image(store.FormatOCI, true), "", false},
		{"skipped", imagePolicy{skip: true, local: lookaside{dir: empty}}, image(store.FormatDockerArchive, false), "", false},
		{"docker archive", imagePolicy{local: lookaside{dir: local}, keys: trusted}, image(store.FormatDockerArchive, false), "a docker save archive has no manifest digest", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.p.fetch = newSigFetcher(false, 5*time.Second)
			err := c.p.check(context.Background(), c.li, "example.com")
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), skipHint)):
				t.Fatalf("got %v, want %q and the hint", err, c.want)
			}
			if (c.li.Signer != "") != c.signed {
				t.Errorf("signer %q", c.li.Signer)
			}
		})
	}
	// A manifest that is not of its digest is refused even when pinned.
	li := image(store.FormatOCI, true)
	li.Manifest = []byte("{}")
	p := imagePolicy{skip: true, fetch: newSigFetcher(false, time.Second)}
	if err := p.check(context.Background(), li, ""); err == nil {
		t.Error("a manifest of another digest accepted")
	}
}

func TestSplitLayoutRef(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for in, want := range map[string][3]string{
		"/x/img":                          {"/x/img", "", ""},
		"/x/img:1.0":                      {"/x/img", "1.0", ""},
		"/x/img@sha256:" + hex:            {"/x/img", "", "sha256:" + hex},
		"/x/a@b/img@sha256:" + hex:        {"/x/a@b/img", "", "sha256:" + hex},
		"/x/a@b/img:1.0":                  {"/x/a@b/img", "1.0", ""},
		"/x/img@sha256:" + hex[:63] + "G": {"/x/img@sha256", hex[:63] + "G", ""},
	} {
		p, sel := splitLayoutRef(in)
		if p != want[0] || sel.tag != want[1] || sel.digest != want[2] {
			t.Errorf("splitLayoutRef(%q) = %q, %+v; want %q", in, p, sel, want)
		}
	}
}

func TestCheckPrefixPort(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:5000/busybox", "localhost:80", "example.com/app", "img"} {
		if err := checkPrefix(ok); err != nil {
			t.Errorf("checkPrefix(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a/b:1", "a:/b", "a:0/b", "a:123456/b", "a:1:2/b", ":5000/b", "A:1/b", "a:1/", "a:x"} {
		if err := checkPrefix(bad); err == nil {
			t.Errorf("checkPrefix(%q) accepted", bad)
		}
	}
}
