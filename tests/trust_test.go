package tests

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
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

// standaloneSign writes a simple-signing signature, by g's key fpr, that
// the manifest file vouches for the image dockerRef, to the lookaside base
// as NAME@sha256=HEX/signature-n (NAME is dockerRef's repository, HEX the
// manifest file's digest).
func (g *gpgHome) standaloneSign(manifest, dockerRef, fpr, base string, n int) {
	g.t.Helper()
	b, err := os.ReadFile(manifest)
	if err != nil {
		g.t.Fatal(err)
	}
	repo := dockerRef[:strings.LastIndexByte(dockerRef, ':')]
	dir := filepath.Join(base, repo+"@sha256="+strings.TrimPrefix(digest(b), "sha256:"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "skopeo", "standalone-sign", manifest, dockerRef, fpr, "--output", filepath.Join(dir, fmt.Sprintf("signature-%d", n)))
	c.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	if out, err := c.CombinedOutput(); err != nil {
		g.t.Fatalf("skopeo standalone-sign: %v\n%s", err, out)
	}
}

// layoutManifest returns the path and digest of the one manifest of the
// OCI layout dir.
func layoutManifest(t *testing.T, dir string) (path, dgst string) {
	t.Helper()
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json of %s: %v, %s", dir, err, b)
	}
	d := idx.Manifests[0].Digest
	return filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), d
}

// verifiedBy is how image inspect says image was checked.
func (e *env) verifiedBy(image string) (by, signer, dgst string) {
	e.t.Helper()
	var info struct {
		Verified struct{ By, Signer, Digest string } `json:"verified"`
	}
	mustJSON(e.t, e.must("image", "inspect", "--format=json", image), &info)
	return info.Verified.By, info.Verified.Signer, info.Verified.Digest
}

// An OCI layout (oci:DIR:TAG) is taken with a simple-signing signature
// by a key trusted for its name, found in DATA/signatures or --signatures;
// pinned by its digest it needs none; refusals are one line and leave the
// store empty.
func TestTrustSignedOCI(t *testing.T) {
	oci, archive, docker := toolImages(t)
	dir := strings.TrimSuffix(strings.TrimPrefix(oci, "oci:"), ":1.0")
	manifest, mdigest := layoutManifest(t, dir)
	work := t.TempDir()
	signer := newGPG(t, "Images <images@example.com>")
	key, fpr := signer.exportKey(work, "images.asc")
	other := newGPG(t, "Other <other@example.com>")
	otherKey, _ := other.exportKey(work, "other.asc")

	e := newEnv(t)
	// No signature: where podctl looked, and how to skip the check.
	e.refused("image img:1.0 (manifest "+mdigest+"): no signature found (looked for img@sha256=", "fetch", oci)
	e.refused("--insecure-options=image skips the check", "run", oci, "--exec", "/bin/true")
	e.storeEmpty()
	e.noPods()
	// Signed, but by a key nobody trusts, or only another key is trusted.
	signer.standaloneSign(manifest, "img:1.0", fpr, filepath.Join(e.dir, "signatures"), 1)
	e.refused("which is not trusted for img: trust it with podctl trust --prefix=img KEYFILE; --insecure-options=image skips the check", "fetch", oci)
	e.must("trust", "--prefix=img", otherKey)
	e.refused("which is not trusted for img", "fetch", oci)
	e.storeEmpty()
	// The key trusted: fetch and run take it, inspect names the signer.
	e.must("trust", "--prefix=img", key)
	id := strings.TrimSpace(e.must("fetch", "--full", oci))
	if out := e.must("run", oci, "--exec", "/bin/echo", "--", "signed"); !strings.Contains(out, "signed") {
		t.Errorf("run of a signed layout: %q", out)
	}
	if by, s, d := e.verifiedBy(id); by != "signature" || !strings.EqualFold(s, fpr) || d != mdigest {
		t.Errorf("inspect: verified by %q, signer %q, digest %q", by, s, d)
	}
	// The OCI archive of the same image (img.tar:1.0 is img:1.0 too),
	// signed by the same signature, found through --signatures.
	if arch := archiveManifestDigest(t, strings.TrimSuffix(strings.TrimPrefix(archive, "oci-archive:"), ":1.0")); arch == mdigest {
		e.must("fetch", "--signatures="+filepath.Join(e.dir, "signatures"), archive)
	} else {
		t.Logf("skopeo wrote the archive with manifest %s, the layout has %s", arch, mdigest)
	}
	// A signature of another manifest, under this one's name: refused.
	wrong := filepath.Join(work, "wrong")
	signer.standaloneSign(key, "img:1.0", fpr, wrong, 1)
	from := filepath.Join(wrong, "img@sha256="+strings.TrimPrefix(digest(mustRead(t, key)), "sha256:"))
	to := filepath.Join(wrong, "img@sha256="+strings.TrimPrefix(mdigest, "sha256:"))
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	e.refused("the signature is for manifest "+digest(mustRead(t, key))+", not "+mdigest, "fetch", "--signatures="+wrong, oci)
	// A docker save archive cannot be signed nor pinned.
	e.refused("a docker save archive has no manifest digest", "fetch", docker)

	// Another store: pinned by digest with no signature; a digest the
	// layout lacks; the insecure path.
	e2 := newEnv(t)
	pinned := "oci:" + dir + "@" + mdigest
	id2 := strings.TrimSpace(e2.must("fetch", "--full", pinned))
	if by, _, d := e2.verifiedBy(id2); by != "digest" || d != mdigest || id2 != id {
		t.Errorf("pinned: %s verified by %q, digest %q (signed: %s)", id2, by, d, id)
	}
	e2.refused("the layout has no manifest sha256:"+strings.Repeat("0", 64), "fetch", "oci:"+dir+"@sha256:"+strings.Repeat("0", 64))
	archFile := strings.TrimSuffix(strings.TrimPrefix(archive, "oci-archive:"), ":1.0")
	e2.must("fetch", "oci-archive:"+archFile+"@"+archiveManifestDigest(t, archFile))
	e2.refused("the layout has no manifest", "fetch", "oci-archive:"+archFile+"@sha256:"+strings.Repeat("1", 64))
	e3 := newEnv(t)
	e3.must("fetch", "--insecure-options=image", oci, docker)
	if by, _, _ := e3.verifiedBy("img:1.0"); by != "none" {
		t.Errorf("an unchecked import is verified by %q", by)
	}
}

// archiveManifestDigest is the digest of the one manifest of an OCI archive.
func archiveManifestDigest(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no index.json in %s: %v", file, err)
		}
		if path.Clean(hdr.Name) != "index.json" {
			continue
		}
		var idx struct {
			Manifests []struct{ Digest string } `json:"manifests"`
		}
		if err := json.NewDecoder(tr).Decode(&idx); err != nil || len(idx.Manifests) != 1 {
			t.Fatalf("index.json of %s: %v", file, err)
		}
		return idx.Manifests[0].Digest
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A registry image pulled by tag is taken with a signature found in the
// lookaside registries.json names for its registry; by digest it needs
// none; an image stored unchecked is not reused without the insecure flag.
func TestTrustSignedRegistry(t *testing.T) {
	oci, _, _ := toolImages(t)
	host, _ := startRegistry(t)
	dir := strings.TrimSuffix(strings.TrimPrefix(oci, "oci:"), ":1.0")
	runTool(t, "", "skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:"+dir+":1.0", "docker://"+host+"/busybox:1.0")
	work := t.TempDir()
	manifest := filepath.Join(work, "manifest.json")
	raw, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+host+"/busybox:1.0").Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	if err := os.WriteFile(manifest, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	mdigest := digest(raw)
	signer := newGPG(t, "Registry <registry@example.com>")
	key, fpr := signer.exportKey(work, "registry.asc")
	sigstore := filepath.Join(work, "sigstore")
	signer.standaloneSign(manifest, host+"/busybox:1.0", fpr, sigstore, 1)
	ref := "docker://" + host + "/busybox:1.0"

	e := newEnv(t)
	regs := fmt.Sprintf(`{"lookaside": {%q: "file://%s"}}`, host, sigstore)
	if err := os.WriteFile(filepath.Join(e.dir, "registries.json"), []byte(regs), 0o644); err != nil {
		t.Fatal(err)
	}
	e.refused("not trusted for "+host+"/busybox: trust it with podctl trust --prefix="+host+"/busybox KEYFILE", "fetch", "--insecure-options=http", ref)
	e.storeEmpty()
	e.must("trust", "--prefix="+host+"/busybox", key)
	id := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=http", ref))
	if by, s, d := e.verifiedBy(id); by != "signature" || !strings.EqualFold(s, fpr) || d != mdigest {
		t.Errorf("inspect: verified by %q, signer %q, digest %q", by, s, d)
	}
	if out := e.must("run", "--insecure-options=http", ref, "--exec", "/bin/echo", "--", "pulled"); !strings.Contains(out, "pulled") {
		t.Errorf("run of the signed pull: %q", out)
	}

	// No lookaside: by digest it is pinned, by tag refused.
	e2 := newEnv(t)
	byDigest := "docker://" + host + "/busybox@" + mdigest
	if id2 := strings.TrimSpace(e2.must("fetch", "--full", "--insecure-options=http", byDigest)); id2 != id {
		t.Errorf("by digest: %s, by tag %s", id2, id)
	}
	e2.refused("image "+host+"/busybox:1.0 (manifest "+mdigest+"): no signature found", "fetch", "--insecure-options=http", ref)
	if out := e2.must("image", "list", "--format=json"); strings.Count(out, `"id"`) != 1 {
		t.Errorf("a refused pull changed the store: %s", out)
	}

	// Stored unchecked, the tag is not taken from the store later without
	// the insecure flag, whatever the pull policy.
	e3 := newEnv(t)
	e3.must("fetch", "--insecure-options=image,http", ref)
	e3.refused("no signature found", "fetch", "--insecure-options=http", ref)
	e3.refused("--pull-policy=never", "fetch", "--pull-policy=never", "--insecure-options=http", ref)
	e3.must("fetch", "--pull-policy=never", "--insecure-options=image,http", ref)
}
