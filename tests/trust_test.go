package tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gpgHome is a gpg home with one key pair, made offline.
type gpgHome struct {
	t    *testing.T
	home string
}

func newGPG(t *testing.T, uid string) *gpgHome {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("the trust tests make keys with gpg: apt-get install gnupg (build.sh installs it)")
	}
	// Short: gpg-agent's socket path must fit in a sockaddr.
	home, err := os.MkdirTemp("", "gpg-")
	if err != nil {
		t.Fatal(err)
	}
	g := &gpgHome{t: t, home: home}
	t.Cleanup(func() {
		c := exec.Command("gpgconf", "--kill", "gpg-agent")
		c.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = c.Run()
		os.RemoveAll(home)
	})
	// ed25519: made at once, where an RSA key may wait for entropy.
	g.run("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
	return g
}

func (g *gpgHome) run(args ...string) []byte {
	g.t.Helper()
	// A gpg that waits (for an agent, for entropy) fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "gpg", append([]string{"--batch", "--yes", "--pinentry-mode", "loopback"}, args...)...)
	c.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	out, err := c.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		g.t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// exportKey writes the armored public key to a file and returns its path
// and the key's fingerprint.
func (g *gpgHome) exportKey(dir, name string) (path, fingerprint string) {
	g.t.Helper()
	path = filepath.Join(dir, name)
	g.run("--armor", "--output", path, "--export")
	for _, line := range strings.Split(string(g.run("--with-colons", "--fingerprint")), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return path, f[9]
		}
	}
	g.t.Fatal("gpg printed no fingerprint")
	return "", ""
}

// signFile writes an armored detached signature of what to sigPath.
func (g *gpgHome) signFile(what, sigPath string) {
	g.t.Helper()
	g.run("--armor", "--detach-sign", "--output", sigPath, what)
}

// copyFile copies a file.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrustSignedACI(t *testing.T) {
	e := newEnv(t)
	work := t.TempDir()
	signer := newGPG(t, "Builds <builds@example.com>")
	key, fpr := signer.exportKey(work, "builds.asc")
	other := newGPG(t, "Other <other@example.com>")
	otherKey, otherFpr := other.exportKey(work, "other.asc")

	aci := filepath.Join(work, "busybox.aci")
	copyFile(t, busyboxACI, aci)
	unsigned := filepath.Join(work, "unsigned.aci")
	copyFile(t, busyboxACI, unsigned)
	signer.signFile(aci, aci+".asc")
	wrong := filepath.Join(work, "wrong.aci")
	copyFile(t, busyboxACI, wrong)
	signer.signFile(key, wrong+".asc") // a signature of other bytes

	// No signature, or one by a key not trusted: refused, nothing stored.
	e.refused("has no signature", "fetch", unsigned)
	e.refused("signature made by key "+fpr+", which is not trusted for example.com/busybox: trust it with podctl trust --prefix=example.com/busybox KEYFILE", "fetch", aci)
	e.storeEmpty()

	// Trusted for another prefix, or for a name that only starts alike.
	e.must("trust", "--prefix=example.com/other", key)
	e.must("trust", "--prefix=example.com/busy", key)
	e.refused("which is not trusted for example.com/busybox (it is trusted for example.com/busy, example.com/other only)", "fetch", aci)
	e.refused("not trusted for example.com/busybox", "run", aci, "--exec", "/bin/true")
	e.noPods()

	// Trusted for the prefix: fetch, run and prepare import it.
	out := e.must("trust", "--prefix=example.com", key)
	if !strings.Contains(out, fpr) || !strings.Contains(out, "example.com") {
		t.Errorf("trust printed %q, want the fingerprint and the prefix", out)
	}
	e.refused("does not verify", "fetch", wrong)
	id := strings.TrimSpace(e.must("fetch", aci))
	if !strings.HasPrefix(id, "sha512-") {
		t.Errorf("fetch printed %q", id)
	}
	if r := e.podctl("run", aci, "--exec", "/bin/echo", "--", "signed"); r.code != 0 || !strings.Contains(r.stdout, "signed") {
		t.Errorf("run of a signed image: %s", r)
	}
	e.must("prepare", "--quiet", aci, "--exec", "/bin/true")
	// The insecure path still takes what has no good signature.
	e.must("fetch", "--insecure-options=image", unsigned, wrong)

	// list, text and JSON.
	list := e.must("trust", "--list")
	for _, want := range []string{"PREFIX", "example.com/other", fpr, "Builds <builds@example.com>"} {
		if !strings.Contains(list, want) {
			t.Errorf("trust --list lacks %q:\n%s", want, list)
		}
	}
	var keys []struct {
		Prefix      string `json:"prefix"`
		Root        bool   `json:"root"`
		Fingerprint string `json:"fingerprint"`
		UserID      string `json:"user_id"`
	}
	if err := json.Unmarshal([]byte(e.must("trust", "--list", "--format=json")), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0].Fingerprint != fpr || keys[0].Prefix != "example.com" || keys[0].UserID != "Builds <builds@example.com>" {
		t.Errorf("trust --list --format=json: %+v", keys)
	}

	// rm: from one prefix, then from wherever it is; then it is refused.
	e.must("trust", "--rm", "--prefix=example.com/other", fpr)
	if list := e.must("trust", "--list"); strings.Contains(list, "example.com/other") {
		t.Errorf("the key stays trusted for example.com/other:\n%s", list)
	}
	e.must("trust", "--rm", fpr)
	e.refused("no key "+fpr+" is trusted", "trust", "--rm", fpr)
	e.refused("not trusted for example.com/busybox", "fetch", aci)

	// A root key applies to every image; only its own signatures count.
	e.must("trust", "--root", otherKey)
	e.refused("not trusted for example.com/busybox", "fetch", aci)
	other.signFile(aci, aci+".asc")
	e.must("fetch", aci)
	e.must("trust", "--rm", "--root", otherFpr)
	e.refused("not trusted", "fetch", aci)
}

func TestTrustRefusals(t *testing.T) {
	e := newEnv(t)
	work := t.TempDir()
	g := newGPG(t, "Keys <keys@example.com>")
	key, _ := g.exportKey(work, "key.asc")
	text := filepath.Join(work, "text.asc")
	if err := os.WriteFile(text, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(work, "secret.asc")
	g.run("--passphrase", "", "--armor", "--output", secret, "--export-secret-keys")
	two := filepath.Join(work, "two.asc")
	b, _ := os.ReadFile(key)
	if err := os.WriteFile(two, append(append([]byte{}, b...), b...), 0o644); err != nil {
		t.Fatal(err)
	}

	e.refused("is not an armored OpenPGP key", "trust", "--prefix=example.com", text)
	e.refused("holds a private key", "trust", "--prefix=example.com", secret)
	e.refused("holds 2 armored blocks", "trust", "--root", two)
	e.refused("no such file", "trust", "--root", filepath.Join(work, "missing.asc"))
	e.refused("either --prefix=NAME", "trust", key)
	e.refused("is not an image name", "trust", "--prefix=Example.com/../x", key)
	e.refused("not a key fingerprint", "trust", "--rm", "abc")
	e.refused("--list or --rm, not both", "trust", "--list", "--rm", "abc")
	e.refused("unknown --format", "trust", "--list", "--format=yaml")
	if list := e.must("trust", "--list", "--format=json"); strings.TrimSpace(list) != "[]" {
		t.Errorf("an empty keystore lists %q", list)
	}
	if r := e.podctl("trust", "--help"); r.code != 0 || !strings.Contains(r.stdout, "podctl trust --prefix=example.com/app") {
		t.Errorf("trust --help: %s", r)
	}
}
