package main

// Simple signing: the signatures containers/image (podman, skopeo) writes
// for OCI and Docker images. A signature is an OpenPGP signed message (gpg
// --sign, binary) whose content is a JSON payload:
//
//	{"critical": {"type": "atomic container signature",
//	              "image": {"docker-manifest-digest": "sha256:..."},
//	              "identity": {"docker-reference": "example.com/app:1.0"}},
//	 "optional": {"creator": "...", "timestamp": 1700000000}}
//
// It vouches that the manifest of that digest is the image of that
// reference. The payload is read as strictly as containers/image reads it
// (docs/containers-signature.5.md): every object once per key, "critical"
// with exactly its three members, unknown members refused there and
// allowed in "optional".

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// simpleSigningType is the payload type containers/image writes and reads.
const simpleSigningType = "atomic container signature"

// maxSimplePayload bounds a payload: one is a few hundred bytes.
const maxSimplePayload = 64 << 10

// simplePayload is what a simple-signing payload says.
type simplePayload struct {
	Digest    string // critical.image.docker-manifest-digest
	Reference string // critical.identity.docker-reference
	Creator   string // optional.creator, if any
	Timestamp int64  // optional.timestamp, if any (0 if not)
}

// simpleVerified is what a good simple-signing signature vouches for.
type simpleVerified struct {
	simplePayload
	Fingerprint string // the signer's primary key, lower-case hex
}

// verifySimpleSigning accepts sig, a simple-signing signature, only if a
// key of kr trusted for the repository of ref made it and its payload
// names exactly the manifest digest and the reference ref expected.
func verifySimpleSigning(sig []byte, digest, ref string, kr keyring) (simpleVerified, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(sig), kr.entities(), nil, nil)
	if err != nil {
		return simpleVerified{}, fmt.Errorf("the signature is not an OpenPGP message: %v", err)
	}
	if md.IsEncrypted || md.IsSymmetricallyEncrypted {
		return simpleVerified{}, errors.New("the signature is an encrypted message, not a signed one")
	}
	if !md.IsSigned {
		return simpleVerified{}, errors.New("the signature's message is not signed")
	}
	// The signature is checked when the content has been read to its end.
	body, err := readLimited(md.UnverifiedBody, maxSimplePayload, "the signature's payload")
	if err != nil {
		return simpleVerified{}, err
	}
	if md.SignedBy == nil {
		return simpleVerified{}, untrusted(fmt.Sprintf("%016X", md.SignedByKeyId), repository(ref), nil)
	}
	fp := fingerprintOf(md.SignedBy.Entity)
	if md.SignatureError != nil {
		return simpleVerified{}, fmt.Errorf("the signature by key %s does not verify: %v", showFingerprint(fp), md.SignatureError)
	}
	if k := kr[fp]; k == nil || !k.trustedFor(repository(ref)) {
		var scopes []string
		if k != nil {
			scopes = k.prefixes
		}
		return simpleVerified{}, untrusted(showFingerprint(fp), repository(ref), scopes)
	}
	p, err := parseSimplePayload(body)
	if err != nil {
		return simpleVerified{}, fmt.Errorf("the signature's payload: %v", err)
	}
	if p.Digest != digest {
		return simpleVerified{}, fmt.Errorf("the signature is for manifest %s, not %s", p.Digest, digest)
	}
	if p.Reference != ref {
		return simpleVerified{}, fmt.Errorf("the signature is for %s, not %s", p.Reference, ref)
	}
	return simpleVerified{simplePayload: p, Fingerprint: fp}, nil
}

// repository is a reference without its tag or digest: the name keys are
// trusted for (example.com/app:1.0 and example.com/app@sha256:... are
// example.com/app).
func repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// parseSimplePayload reads a payload strictly (see the file's comment).
func parseSimplePayload(b []byte) (simplePayload, error) {
	top, err := strictObject(b, []string{"critical", "optional"}, false)
	if err != nil {
		return simplePayload{}, err
	}
	crit, err := strictObject(top["critical"], []string{"type", "image", "identity"}, false)
	if err != nil {
		return simplePayload{}, fmt.Errorf("critical: %v", err)
	}
	var typ string
	if err := json.Unmarshal(crit["type"], &typ); err != nil || typ != simpleSigningType {
		return simplePayload{}, fmt.Errorf("critical.type is %s, not %q", crit["type"], simpleSigningType)
	}
	var p simplePayload
	if err := strictString(crit["image"], "docker-manifest-digest", &p.Digest); err != nil {
		return simplePayload{}, fmt.Errorf("critical.image: %v", err)
	}
	if err := strictString(crit["identity"], "docker-reference", &p.Reference); err != nil {
		return simplePayload{}, fmt.Errorf("critical.identity: %v", err)
	}
	opt, err := strictObject(top["optional"], nil, true)
	if err != nil {
		return simplePayload{}, fmt.Errorf("optional: %v", err)
	}
	if v, ok := opt["creator"]; ok {
		if err := json.Unmarshal(v, &p.Creator); err != nil {
			return simplePayload{}, errors.New("optional.creator is not a string")
		}
	}
	if v, ok := opt["timestamp"]; ok {
		if err := json.Unmarshal(v, &p.Timestamp); err != nil {
			return simplePayload{}, errors.New("optional.timestamp is not an integer")
		}
	}
	return p, nil
}

// strictString reads an object with exactly one member, key, a string.
func strictString(b []byte, key string, v *string) error {
	obj, err := strictObject(b, []string{key}, false)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(obj[key], v); err != nil {
		return fmt.Errorf("%s is not a string", key)
	}
	return nil
}

// strictObject reads a JSON object whose members each appear once, with
// nothing after it. Every key of want must be there; with others unset,
// no other key may.
func strictObject(b []byte, want []string, others bool) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not a JSON object: %v", err)
		}
		key, ok := t.(string)
		if !ok {
			return nil, errors.New("not a JSON object")
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("%q appears twice", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %v", key, err)
		}
		if !others && !contains(want, key) {
			return nil, fmt.Errorf("unknown member %q", key)
		}
		obj[key] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	for _, k := range want {
		if _, ok := obj[k]; !ok {
			return nil, fmt.Errorf("member %q is missing", k)
		}
	}
	return obj, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func init() {
	verbs["verify-simple"] = verbMain("verify-simple", verifySimpleVerb)
}

// verifySimpleVerb checks a simple-signing signature file by hand (the
// OCI and Docker imports call verifySimpleSigning through imagePolicy):
//
//	podctl-fetch verify-simple --digest sha256:... --reference REF SIGFILE
//
// It prints "REFERENCE DIGEST FINGERPRINT" on success.
func verifySimpleVerb(args []string) error {
	fs := newFlags("verify-simple")
	digest := fs.String("digest", "", "")
	ref := fs.String("reference", "", "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("verify-simple: %v", err)
	}
	if fs.NArg() != 1 || *digest == "" || *ref == "" {
		return errors.New("verify-simple takes --digest, --reference and one signature file")
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("reading signature: %w", err)
	}
	sig, err := readLimited(f, maxSignature, "signature "+fs.Arg(0))
	f.Close()
	if err != nil {
		return err
	}
	kr, err := loadKeyring(openKeystore(dir))
	if err != nil {
		return err
	}
	v, err := verifySimpleSigning(sig, *digest, *ref, kr)
	if err != nil {
		return fmt.Errorf("signature %s: %v", fs.Arg(0), err)
	}
	fmt.Printf("%s %s %s\n", v.Reference, v.Digest, showFingerprint(v.Fingerprint))
	return nil
}
