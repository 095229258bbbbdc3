package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testRef    = "registry.example.com/team/app:1.0"
)

// simplePayloadJSON is a payload as containers/image writes it.
func simplePayloadJSON(digest, ref string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + ref + `"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"atomic container signature"},"optional":{"creator":"atomic 2.0.0","timestamp":1458239713}}`)
}

func TestVerifySimpleSigning(t *testing.T) {
	signer := newGPGKey(t, "Builds <builds@example.com>")
	other := newGPGKey(t, "Other <other@example.com>")
	sig := signer.sign(t, simplePayloadJSON(testDigest, testRef))
	root := map[*gpgKey][]string{signer: {""}}
	tampered := append([]byte{}, sig...)
	tampered[len(tampered)-10] ^= 0x40

	cases := []struct {
		name        string
		sig         []byte
		digest, ref string
		trust       map[*gpgKey][]string
		want        string
	}{
		{"root key", sig, testDigest, testRef, root, ""},
		{"prefix", sig, testDigest, testRef, map[*gpgKey][]string{signer: {"registry.example.com/team"}}, ""},
		{"other prefix", sig, testDigest, testRef, map[*gpgKey][]string{signer: {"registry.example.com/other"}}, "not trusted for registry.example.com/team/app"},
		{"unknown key", sig, testDigest, testRef, map[*gpgKey][]string{other: {""}}, "not trusted"},
		{"other digest", sig, "sha256:" + strings.Repeat("0", 64), testRef, root, "is for manifest " + testDigest},
		{"other reference", sig, testDigest, "registry.example.com/team/app:2.0", root, "is for " + testRef},
		{"changed", tampered, testDigest, testRef, root, ""},
		{"detached", signer.detachSign(t, simplePayloadJSON(testDigest, testRef)), testDigest, testRef, root, "not"},
		{"other type", signer.sign(t, []byte(strings.Replace(string(simplePayloadJSON(testDigest, testRef)), "atomic container", "other", 1))), testDigest, testRef, root, "critical.type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := verifySimpleSigning(c.sig, c.digest, c.ref, keyringOf(t, c.trust))
			if c.name == "changed" {
				if err == nil {
					t.Fatal("a changed signature accepted")
				}
				return
			}
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v.Digest != testDigest || v.Reference != testRef || v.Creator != "atomic 2.0.0" || v.Timestamp != 1458239713 {
					t.Errorf("verified %+v", v)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseSimplePayloadRefuses(t *testing.T) {
	good := string(simplePayloadJSON(testDigest, testRef))
	if _, err := parseSimplePayload([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"not json":          "hello",
		"array":             "[]",
		"no optional":       `{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"d"},"identity":{"docker-reference":"r"}}}`,
		"unknown critical":  strings.Replace(good, `"type"`, `"extra":1,"type"`, 1),
		"unknown top":       strings.Replace(good, `{"critical"`, `{"x":1,"critical"`, 1),
		"duplicate":         strings.Replace(good, `"type"`, `"type":"atomic container signature","type"`, 1),
		"extra in image":    strings.Replace(good, `"image":{`, `"image":{"x":1,`, 1),
		"digest not string": strings.Replace(good, `"`+testDigest+`"`, `1`, 1),
		"trailing data":     good + "{}",
		"bad timestamp":     strings.Replace(good, "1458239713", `"now"`, 1),
	} {
		if _, err := parseSimplePayload([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"example.com/app:1.0":          "example.com/app",
		"example.com:5000/app":         "example.com:5000/app",
		"example.com:5000/app:1":       "example.com:5000/app",
		"example.com/app@sha256:abc":   "example.com/app",
		"example.com/app:1@sha256:abc": "example.com/app",
		"docker.io/library/busybox":    "docker.io/library/busybox",
	} {
		if got := repository(in); got != want {
			t.Errorf("repository(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSimplePayload(f *testing.F) {
	f.Add(simplePayloadJSON(testDigest, testRef))
	f.Add([]byte(`{"critical":{},"optional":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSimplePayload(b)
		if err != nil {
			return
		}
		// What is accepted is what a well-formed payload of the same
		// values says.
		again, err := parseSimplePayload(mustPayload(t, p))
		if err != nil || again.Digest != p.Digest || again.Reference != p.Reference {
			t.Fatalf("%+v does not read back: %+v, %v", p, again, err)
		}
	})
}

func mustPayload(t *testing.T, p simplePayload) []byte {
	b, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"type":     simpleSigningType,
			"image":    map[string]string{"docker-manifest-digest": p.Digest},
			"identity": map[string]string{"docker-reference": p.Reference},
		},
		"optional": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
