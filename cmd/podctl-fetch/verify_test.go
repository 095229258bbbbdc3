package main

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
)

// keyringOf trusts each key for the prefixes given ("" for root).
func keyringOf(t *testing.T, trust map[*gpgKey][]string) keyring {
	t.Helper()
	kr := keyring{}
	for k, prefixes := range trust {
		e, err := parsePublicKey(k.pub)
		if err != nil {
			t.Fatal(err)
		}
		kr[fingerprintOf(e)] = &trustedKey{entity: e, prefixes: prefixes}
	}
	return kr
}

func TestVerifyACI(t *testing.T) {
	signer := newGPGKey(t, "Builds <builds@example.com>")
	other := newGPGKey(t, "Other <other@example.com>")
	aci := testACI(t, "example.com/app/web")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(aci)
	zw.Close()
	sig := signer.detachSign(t, aci)
	gzSig := signer.detachSign(t, gz.Bytes())
	binarySig := signer.gpg(t, aci, "--detach-sign", "--local-user", signer.uid)
	tampered := append([]byte{}, aci...)
	tampered[len(tampered)-600] ^= 1 // in the body of rootfs/hello's block

	cases := []struct {
		name  string
		aci   []byte
		sig   []byte
		trust map[*gpgKey][]string
		want  string // "" for accepted, else in the error
	}{
		{"prefix", aci, sig, map[*gpgKey][]string{signer: {"example.com/app"}}, ""},
		{"exact name", aci, sig, map[*gpgKey][]string{signer: {"example.com/app/web"}}, ""},
		{"root", aci, sig, map[*gpgKey][]string{signer: {""}}, ""},
		{"gzip", gz.Bytes(), gzSig, map[*gpgKey][]string{signer: {"example.com"}}, ""},
		{"binary signature", aci, binarySig, map[*gpgKey][]string{signer: {""}}, ""},
		{"no keys", aci, sig, nil, "which is not trusted for example.com/app/web: trust it with podctl trust --prefix=example.com/app/web KEYFILE"},
		{"other key", aci, sig, map[*gpgKey][]string{other: {""}}, "not trusted for example.com/app/web"},
		{"other prefix", aci, sig, map[*gpgKey][]string{signer: {"example.com/db", "example.com/ap"}}, "(it is trusted for example.com/db, example.com/ap only)"},
		{"changed image", tampered, sig, map[*gpgKey][]string{signer: {""}}, "does not verify"},
		{"signature of other bytes", aci, signer.detachSign(t, []byte("other")), map[*gpgKey][]string{signer: {""}}, "does not verify"},
		{"garbage signature", aci, []byte("not a signature"), map[*gpgKey][]string{signer: {""}}, "not an OpenPGP signature"},
		{"key as signature", aci, signer.pub, map[*gpgKey][]string{signer: {""}}, "not a \"PGP SIGNATURE\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := verifyACI(bytes.NewReader(c.aci), c.sig, "x.aci.asc", keyringOf(t, c.trust))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v.Name != "example.com/app/web" {
					t.Errorf("name %q", v.Name)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line with %q", err, c.want)
			}
		})
	}
}

func TestACIName(t *testing.T) {
	if n, err := aciName(bytes.NewReader(testACI(t, "example.com/x"))); err != nil || n != "example.com/x" {
		t.Errorf("aciName = %q, %v", n, err)
	}
	for name, in := range map[string][]byte{
		"empty":    nil,
		"text":     []byte("hello"),
		"bad name": testACI(t, "Example.com/x"),
	} {
		if n, err := aciName(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: accepted as %q", name, n)
		}
	}
}

func FuzzACIName(f *testing.F) {
	f.Add([]byte("hello"))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := aciName(bytes.NewReader(b))
		if _, nerr := types.NewACIdentifier(n); err == nil && nerr != nil {
			t.Fatalf("name %q is not an image name", n)
		}
	})
}
