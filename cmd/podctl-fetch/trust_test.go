package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrefixCovers(t *testing.T) {
	for _, c := range []struct {
		prefix, name string
		want         bool
	}{
		{"example.com/app", "example.com/app", true},
		{"example.com/app", "example.com/app/web", true},
		{"example.com", "example.com/app", true},
		{"example.com/app", "example.com/app-x", false},
		{"example.com/app", "example.com/ap", false},
		{"example.com/app", "example.com", false},
		{"example.com/app/", "example.com/app/x", false},
	} {
		if got := prefixCovers(c.prefix, c.name); got != c.want {
			t.Errorf("prefixCovers(%q, %q) = %v, want %v", c.prefix, c.name, got, c.want)
		}
	}
}

func TestEscapePrefix(t *testing.T) {
	for _, p := range []string{"example.com", "example.com/app", "a/b/c-d_e~f"} {
		name := escapePrefix(p)
		if strings.Contains(name, "/") {
			t.Errorf("escapePrefix(%q) = %q, which holds a slash", p, name)
		}
		if back, ok := unescapePrefix(name); !ok || back != p {
			t.Errorf("unescapePrefix(%q) = %q, %v, want %q", name, back, ok, p)
		}
	}
	for _, bad := range []string{"", ".", "..", "Example.com", "a,,b", ",a", "a,", "a b", "a/../b"} {
		if p, ok := unescapePrefix(bad); ok {
			t.Errorf("unescapePrefix(%q) = %q, want a refusal", bad, p)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	good := "3819A945409F0E6D8CA71A40CA285A474E183CA0"
	for in, want := range map[string]string{
		good: strings.ToLower(good),
		"3819 A945 409F 0E6D 8CA7  1A40 CA28 5A47 4E18 3CA0": strings.ToLower(good),
		strings.Repeat("ab", 32):                             strings.Repeat("ab", 32),
	} {
		if got, ok := parseFingerprint(in); !ok || got != want {
			t.Errorf("parseFingerprint(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "abc", good[:39], good + "0", strings.Replace(good, "A", "G", 1), "../" + good[3:]} {
		if _, ok := parseFingerprint(bad); ok {
			t.Errorf("parseFingerprint(%q) accepted", bad)
		}
	}
}

// TestTrustVerbs adds, lists and removes keys as podctl trust does.
func TestTrustVerbs(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PODCTL_DIR", dir)
	k := newGPGKey(t, "Builds <builds@example.com>")
	keyFile := writeFile(t, t.TempDir(), "key.asc", k.pub)
	ent, err := parsePublicKey(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	fp := fingerprintOf(ent)

	if err := trustAdd([]string{"--prefix=example.com/app", keyFile}); err != nil {
		t.Fatal(err)
	}
	if err := trustAdd([]string{"--root", keyFile}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		filepath.Join(dir, "trust", "prefix.d", "example.com,app", fp),
		filepath.Join(dir, "trust", "root.d", fp),
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parsePublicKey(b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	entries, err := openKeystore(dir).entries()
	if err != nil || len(entries) != 2 || entries[0].Prefix != "" || entries[1].Prefix != "example.com/app" {
		t.Fatalf("entries = %+v, %v", entries, err)
	}
	kr, err := loadKeyring(openKeystore(dir))
	if err != nil || len(kr) != 1 || len(kr[fp].prefixes) != 2 {
		t.Fatalf("keyring = %+v, %v", kr, err)
	}

	if err := trustRm([]string{"--root", strings.ToUpper(fp)}); err != nil {
		t.Fatal(err)
	}
	if err := trustRm([]string{"--root", fp}); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("removing a key twice: %v", err)
	}
	if err := trustRm([]string{fp}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "trust", "prefix.d", "example.com,app")); !os.IsNotExist(err) {
		t.Errorf("the emptied prefix folder stays: %v", err)
	}

	for _, bad := range [][]string{
		{keyFile},                             // no scope
		{"--root", "--prefix=a.com", keyFile}, // two scopes
		{"--prefix=Not/A/Name", keyFile},
		{"--root", filepath.Join(dir, "missing.asc")},
	} {
		err := trustAdd(bad)
		if err == nil {
			t.Errorf("trust-add %q accepted", bad)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("trust-add %q: the error has more than one line: %q", bad, err)
		}
	}
}

func TestParsePublicKeyRefuses(t *testing.T) {
	a := newGPGKey(t, "A <a@example.com>")
	b := newGPGKey(t, "B <b@example.com>")
	secret := a.gpg(t, nil, "--passphrase", "", "--armor", "--export-secret-keys", a.uid)
	binary := a.gpg(t, nil, "--export", a.uid)
	// One armored block of two keys.
	a.gpg(t, b.gpg(t, nil, "--export", b.uid), "--import")
	two := a.gpg(t, nil, "--armor", "--export")
	for name, in := range map[string][]byte{
		"empty":         nil,
		"text":          []byte("hello\n"),
		"binary key":    binary,
		"private key":   secret,
		"two blocks":    append(append([]byte{}, a.pub...), b.pub...),
		"two keys":      two,
		"a signature":   a.detachSign(t, []byte("x")),
		"truncated key": a.pub[:len(a.pub)/2],
	} {
		if _, err := parsePublicKey(in); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: the error has more than one line: %q", name, err)
		}
	}
	if _, err := parsePublicKey(bytes.TrimSpace(a.pub)); err != nil {
		t.Errorf("a public key: %v", err)
	}
}

func FuzzUnescapePrefix(f *testing.F) {
	for _, s := range []string{"example.com,app", "a", "", ",", "a,,b", "A", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, ok := unescapePrefix(name)
		if !ok {
			return
		}
		if err := checkPrefix(p); err != nil {
			t.Fatalf("unescapePrefix(%q) = %q, not a prefix: %v", name, p, err)
		}
		if strings.Contains(escapePrefix(p), "/") {
			t.Fatalf("escapePrefix(%q) holds a slash", p)
		}
		if back, ok := unescapePrefix(escapePrefix(p)); !ok || back != p {
			t.Fatalf("%q does not go back and forth", p)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte("hello"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parsePublicKey(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if e.PrivateKey != nil {
			t.Fatal("a private key accepted")
		}
	})
}
