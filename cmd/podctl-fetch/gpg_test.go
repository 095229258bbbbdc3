package main

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gpgKey is a key pair made by gpg in a home of its own, for tests that
// need real signatures made by another implementation than go-crypto.
type gpgKey struct {
	home string
	uid  string
	pub  []byte // armored public key
}

// newGPGKey makes an ed25519 key pair (fast to make) with no passphrase.
func newGPGKey(t *testing.T, uid string) *gpgKey {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("these tests make keys with gpg: apt-get install gnupg (build.sh installs it)")
	}
	// Short: gpg-agent's socket path must fit in a sockaddr.
	home, err := os.MkdirTemp("", "gpg-")
	if err != nil {
		t.Fatal(err)
	}
	k := &gpgKey{home: home, uid: uid}
	t.Cleanup(func() {
		c := exec.Command("gpgconf", "--kill", "gpg-agent")
		c.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = c.Run()
		os.RemoveAll(home)
	})
	k.gpg(t, nil, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
	k.pub = k.gpg(t, nil, "--armor", "--export", uid)
	return k
}

// gpg runs gpg in the key's home with stdin and returns its stdout.
func (k *gpgKey) gpg(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	// A gpg that waits (for an agent, for entropy) fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "gpg", append([]string{"--batch", "--yes", "--pinentry-mode", "loopback"}, args...)...)
	c.Env = append(os.Environ(), "GNUPGHOME="+k.home)
	c.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// detachSign returns an armored detached signature of data.
func (k *gpgKey) detachSign(t *testing.T, data []byte) []byte {
	return k.gpg(t, data, "--armor", "--detach-sign", "--local-user", k.uid)
}

// sign returns data as a signed OpenPGP message (binary), as
// containers/image makes a simple-signing signature.
func (k *gpgKey) sign(t *testing.T, data []byte) []byte {
	return k.gpg(t, data, "--sign", "--local-user", k.uid)
}

// writeFile writes b into a file of dir.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testACI is a minimal ACI of the given name.
func testACI(t *testing.T, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	man := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"` + name + `"}`
	for _, e := range []struct {
		name string
		body string
		dir  bool
	}{{name: "manifest", body: man}, {name: "rootfs/", dir: true}, {name: "rootfs/hello", body: "hi\n"}} {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if e.dir {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
