package main

// The check an OCI or Docker image passes before import-image stores it.
// An image is accepted when
//
//   - it is pinned: named by its manifest's digest (docker://NAME@sha256:…,
//     oci:DIR@sha256:…, oci-archive:FILE@sha256:…), and the manifest read
//     has that digest; or
//   - a simple-signing signature (verify_simple.go) vouches for its
//     manifest's digest and its identity, made by a key the keystore
//     trusts for its repository (podctl trust --prefix=REPOSITORY or
//     --root); or
//   - the check is skipped: --insecure-options=image (or all).
//
// The identity of a registry image is its repository as
// go-containerregistry names it (127.0.0.1:5000/busybox,
// index.docker.io/library/busybox) and the tag it was pulled by:
// REPOSITORY:TAG. That of an OCI layout or archive is the name and version
// the store gives it (what image list shows): the layout's
// org.opencontainers.image.ref.name when that is a whole NAME:TAG, else
// the folder's or file's name and the tag asked for ("latest" if none).
// A docker save archive has no manifest digest anyone could sign or know
// beforehand: only the skipped check takes it.
//
// Signatures are looked for under the repository's name (signatures.go),
// in --signatures alone when it is given; otherwise in the data
// directory's signatures folder, then, for a registry image, in the
// lookaside registries.json gives its registry.

import (
	"context"
	"fmt"
	"strings"

	"podctl/datadir"
	"podctl/store"
)

// imagePolicy decides whether an image may be stored.
type imagePolicy struct {
	skip     bool                 // --insecure-options=image: no check
	override *lookaside           // --signatures: the only place looked in
	local    lookaside            // DATA/signatures
	registry map[string]lookaside // lookasides by registry (registries.json)
	keys     keyring
	fetch    *sigFetcher
}

// skipHint ends a refusal: how to take the image anyway.
const skipHint = "--insecure-options=image skips the check"

// sources lists where the signatures of an image from registry ("" for
// an image not pulled from one) are looked for, in order.
func (p *imagePolicy) sources(registry string) []lookaside {
	if p.override != nil {
		return []lookaside{*p.override}
	}
	out := []lookaside{p.local}
	if l, ok := p.registry[registry]; ok && registry != "" {
		out = append(out, l)
	}
	return out
}

// identity is the docker-reference a signature of li must name.
func identity(li *store.LayeredImage) string {
	tag := li.Tag
	if tag == "" {
		tag = "latest"
	}
	return li.Name + ":" + tag
}

// check accepts li or says, in one line, why not. It sets li.Signer to
// the key of the signature it accepted. registry is the registry li was
// pulled from, "" for an image read from a file.
func (p *imagePolicy) check(ctx context.Context, li *store.LayeredImage, registry string) error {
	if d := digestOf(li.Manifest); d != li.ManifestDigest {
		return fmt.Errorf("the manifest's digest is %s, not %s", d, li.ManifestDigest)
	}
	switch {
	case li.Pinned || p.skip:
		return nil
	case li.Format == store.FormatDockerArchive:
		return fmt.Errorf("a docker save archive has no manifest digest a signature could vouch for, nor one to pin it by: %s (or import it as an OCI layout with a signature)", skipHint)
	}
	ident := identity(li)
	what := fmt.Sprintf("image %s (manifest %s)", ident, li.ManifestDigest)
	if err := checkPrefix(li.Name); err != nil {
		return fmt.Errorf("%s: its name cannot be signed: %v; %s", what, err, skipHint)
	}
	var errs []error
	var looked []string
	for _, l := range p.sources(registry) {
		looked = append(looked, l.String())
		sigs, err := p.fetch.signatures(ctx, l, li.Name, li.ManifestDigest)
		if err != nil {
			errs = append(errs, err)
		}
		for _, s := range sigs {
			v, err := verifySimpleSigning(s.sig, li.ManifestDigest, ident, p.keys)
			if err == nil {
				li.Signer = v.Fingerprint
				return nil
			}
			errs = append(errs, fmt.Errorf("signature %s: %w", s.where, err))
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("%s: no signature found (looked for %s in %s): sign it (skopeo standalone-sign) or pin it by digest; %s",
			what, sigLocation(li.Name, li.ManifestDigest, 1), strings.Join(looked, " and "), skipHint)
	}
	more := ""
	if len(errs) > 1 {
		more = fmt.Sprintf(" (and %d more refused)", len(errs)-1)
	}
	return fmt.Errorf("%s: %w%s; %s", what, errs[0], more, skipHint)
}

// newImagePolicy reads what the check of an import needs from dataDir:
// the keystore, the registries file, and where --signatures (sigFlag, ""
// if not given) points. insecure is --insecure-options.
func newImagePolicy(dataDir string, insecure []string, sigFlag string) (*imagePolicy, error) {
	p := &imagePolicy{local: lookaside{dir: datadir.SignaturesDir(dataDir)}}
	skipVerify := false
	for _, o := range insecure {
		switch strings.TrimSpace(o) {
		case "image":
			p.skip = true
		case "tls":
			skipVerify = true
		case "all":
			p.skip, skipVerify = true, true
		}
	}
	p.fetch = newSigFetcher(skipVerify, defaultTimeout)
	if p.skip {
		return p, nil
	}
	if sigFlag != "" {
		l, err := parseLookaside(sigFlag, false)
		if err != nil {
			return nil, fmt.Errorf("--signatures: %w", err)
		}
		p.override = &l
	}
	regs, err := loadRegistries(dataDir)
	if err != nil {
		return nil, err
	}
	p.registry = regs.lookaside
	if p.keys, err = loadKeyring(openKeystore(dataDir)); err != nil {
		return nil, err
	}
	return p, nil
}
