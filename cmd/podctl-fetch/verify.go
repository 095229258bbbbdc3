package main

// verify-aci checks an ACI's detached OpenPGP signature against the keys
// the keystore trusts for the image's name:
//
//	podctl-fetch verify-aci --signature FILE.asc FILE|-
//
// With "-", the ACI is stdin, which must be a regular file: podctl hands
// over a private copy it then imports, so that the bytes verified are the
// bytes imported. On success it prints "NAME FINGERPRINT" (the image's name
// and the signer's primary key) on one line.
//
// The order: the signature is checked over the whole file against every
// key of the keystore first; only then is the manifest read (so that an
// image from an unknown signer is decompressed only to name it in the
// refusal), and the signer must be trusted for the name it holds.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ulikunitz/xz"

	"podctl/internal/manifest"
)

// maxSignature bounds a signature file: one is a few hundred bytes.
const maxSignature = 1 << 20

// trustedKey is a key of the keystore and every scope it is trusted for
// ("" for root).
type trustedKey struct {
	entity   *openpgp.Entity
	prefixes []string
}

// trustedFor says whether the key may sign an image of this name.
func (k *trustedKey) trustedFor(name string) bool {
	for _, p := range k.prefixes {
		if p == "" || prefixCovers(p, name) {
			return true
		}
	}
	return false
}

// keyring is the keystore read: its keys by fingerprint.
type keyring map[string]*trustedKey

// loadKeyring reads every key of the keystore. A file that does not hold
// the one public key its name says is left out: it cannot make anything
// trusted (trust --list shows it as unreadable).
func loadKeyring(ks keystore) (keyring, error) {
	entries, err := ks.entries()
	if err != nil {
		return nil, err
	}
	kr := keyring{}
	for _, e := range entries {
		ent, err := readKeyFile(e.Path)
		if err != nil || fingerprintOf(ent) != e.Fingerprint {
			continue
		}
		k := kr[e.Fingerprint]
		if k == nil {
			k = &trustedKey{entity: ent}
			kr[e.Fingerprint] = k
		}
		k.prefixes = append(k.prefixes, e.Prefix)
	}
	return kr, nil
}

func (kr keyring) entities() openpgp.EntityList {
	fps := make([]string, 0, len(kr))
	for fp := range kr {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	el := make(openpgp.EntityList, 0, len(fps))
	for _, fp := range fps {
		el = append(el, kr[fp].entity)
	}
	return el
}

// verified is what a good signature vouches for.
type verified struct {
	Name        string // the image's name, from its manifest
	Fingerprint string // the signer's primary key, lower-case hex
}

// signatureBody returns the OpenPGP packets of a signature file, armored
// (gpg --armor) or binary.
func signatureBody(sig []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(sig, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return sig, nil
	}
	block, err := armor.Decode(bytes.NewReader(trimmed))
	if err != nil {
		return nil, fmt.Errorf("it is not an armored OpenPGP signature: %v", err)
	}
	if block.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("it holds a %q, not a %q", block.Type, openpgp.SignatureType)
	}
	return readLimited(block.Body, maxSignature, "the signature")
}

// signatureIssuer names the key that made a signature, as well as the
// signature tells it: its fingerprint, else its 64-bit key ID.
func signatureIssuer(body []byte) (string, error) {
	p, err := packet.NewReader(bytes.NewReader(body)).Next()
	if err != nil {
		return "", fmt.Errorf("it is not an OpenPGP signature: %v", err)
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return "", errors.New("it is not an OpenPGP signature")
	}
	switch {
	case len(s.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", s.IssuerFingerprint), nil
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *s.IssuerKeyId), nil
	}
	return "", errors.New("it does not say which key made it")
}

// verifyACI checks sig, a detached signature, over the ACI aci against
// the keys of kr, and that the signer is trusted for the image's name.
// sigName names the signature file in messages.
func verifyACI(aci io.ReadSeeker, sig []byte, sigName string, kr keyring) (verified, error) {
	body, err := signatureBody(sig)
	if err != nil {
		return verified{}, fmt.Errorf("signature %s: %v", sigName, err)
	}
	issuer, err := signatureIssuer(body)
	if err != nil {
		return verified{}, fmt.Errorf("signature %s: %v", sigName, err)
	}
	_, signer, err := openpgp.VerifyDetachedSignature(kr.entities(), aci, bytes.NewReader(body), nil)
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		name, nerr := nameOf(aci)
		if nerr != nil {
			return verified{}, fmt.Errorf("signature made by key %s, which podctl does not trust; and %v", issuer, nerr)
		}
		return verified{}, untrusted(issuer, name, nil)
	}
	if err != nil {
		if signer != nil {
			issuer = showFingerprint(fingerprintOf(signer))
		}
		return verified{}, fmt.Errorf("signature %s by key %s does not verify: %v: the image or its signature was changed, or the key expired or was revoked", sigName, issuer, err)
	}
	fp := fingerprintOf(signer)
	name, err := nameOf(aci)
	if err != nil {
		return verified{}, err
	}
	k := kr[fp]
	if k == nil || !k.trustedFor(name) {
		var scopes []string
		if k != nil {
			scopes = k.prefixes
		}
		return verified{}, untrusted(showFingerprint(fp), name, scopes)
	}
	return verified{Name: name, Fingerprint: fp}, nil
}

// untrusted is the refusal of a signature by a key not trusted for name;
// scopes are the prefixes the key is trusted for.
func untrusted(key, name string, scopes []string) error {
	also := ""
	if len(scopes) > 0 {
		also = fmt.Sprintf(" (it is trusted for %s only)", strings.Join(scopes, ", "))
	}
	return fmt.Errorf("signature made by key %s, which is not trusted for %s%s: trust it with podctl trust --prefix=%s KEYFILE", key, name, also, name)
}

// nameOf rewinds the ACI and reads its image name from its manifest.
func nameOf(aci io.ReadSeeker) (string, error) {
	if _, err := aci.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("reading the image: %w", err)
	}
	return aciName(aci)
}

// maxACI bounds how much of a decompressed ACI is read for its manifest:
// the store's default size limit.
const maxACI = 16 << 30

// maxACIManifest bounds an ACI's manifest, as the store does.
const maxACIManifest = 1 << 20

// aciName reads an ACI (a tar, plain or compressed with gzip, bzip2 or
// xz) to its manifest, which the store requires to be its one entry named
// "manifest", and returns the image's name. The manifest is parsed with
// the store's parser, so that the name checked is the name stored.
func aciName(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the image: %w", err)
	}
	var dr io.Reader
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		dr, err = gzip.NewReader(br)
	case bytes.HasPrefix(head, []byte("BZh")):
		dr = bzip2.NewReader(br)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		dr, err = xz.NewReader(br)
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		dr = br
	default:
		return "", errors.New("the image is not a tar archive, plain or compressed with gzip, bzip2 or xz")
	}
	if err != nil {
		return "", fmt.Errorf("reading the image: %v", err)
	}
	tr := tar.NewReader(io.LimitReader(dr, maxACI))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return "", errors.New("the image has no manifest")
		}
		if err != nil {
			return "", fmt.Errorf("reading the image: %v", err)
		}
		if path.Clean("/"+hdr.Name) != "/manifest" {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > maxACIManifest {
			return "", errors.New("the image's manifest is not a regular file of at most 1 MiB")
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return "", fmt.Errorf("reading the image: %v", err)
		}
		im, err := manifest.ParseImage(b)
		if err != nil {
			return "", fmt.Errorf("the image's manifest: %v", err)
		}
		return im.Name.String(), nil
	}
}

func verifyACIVerb(args []string) error {
	fs := newFlags("verify-aci")
	sigPath := fs.String("signature", "", "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("verify-aci: %v", err)
	}
	if fs.NArg() != 1 || *sigPath == "" {
		return errors.New("verify-aci takes --signature FILE.asc and one ACI file (or - for stdin)")
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	aci := os.Stdin
	if fs.Arg(0) != "-" {
		if aci, err = os.Open(fs.Arg(0)); err != nil {
			return fmt.Errorf("reading the image: %w", err)
		}
		defer aci.Close()
	}
	if fi, err := aci.Stat(); err != nil || !fi.Mode().IsRegular() {
		return errors.New("verify-aci reads a regular file, not a pipe")
	}
	sf, err := os.Open(*sigPath)
	if err != nil {
		return fmt.Errorf("reading signature: %w", err)
	}
	sig, err := readLimited(sf, maxSignature, "signature "+*sigPath)
	sf.Close()
	if err != nil {
		return err
	}
	kr, err := loadKeyring(openKeystore(dir))
	if err != nil {
		return err
	}
	v, err := verifyACI(aci, sig, *sigPath, kr)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n", v.Name, showFingerprint(v.Fingerprint))
	return nil
}
