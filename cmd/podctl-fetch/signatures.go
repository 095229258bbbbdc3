package main

// Where the simple-signing signatures of an OCI or Docker image are found.
// They are laid out as containers/image lays out a "lookaside" store, in a
// folder or on a web server:
//
//	BASE/NAME@sha256=HEX/signature-1
//	BASE/NAME@sha256=HEX/signature-2
//	...
//
// NAME is the image's repository (127.0.0.1:5000/busybox, example.com/app;
// see imagePolicy for what it is of each kind of image) and HEX its
// manifest's digest. Signatures are read from 1 upward until one is
// missing (a missing file, HTTP 404), at most maxSignatures of them, each
// at most maxSignature bytes. A lookaside is a file:// URL of a folder or
// an http:// or https:// URL; signatures are verified, so plain HTTP
// carries them as well as HTTPS does.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxSignatures bounds the signatures read of one image from one lookaside:
// an image has one or two.
const maxSignatures = 16

// lookaside is a place signatures are read from: a folder or a URL.
type lookaside struct {
	dir string   // an absolute folder, or
	url *url.URL // an http:// or https:// base
}

func (l lookaside) String() string {
	if l.url != nil {
		return l.url.Redacted()
	}
	return l.dir
}

// parseLookaside reads a lookaside: a file:// URL of a folder, an http://
// or https:// URL, or, unless urlOnly, an absolute folder path.
func parseLookaside(s string, urlOnly bool) (lookaside, error) {
	if !strings.Contains(s, "://") {
		if urlOnly || !filepath.IsAbs(s) {
			return lookaside{}, fmt.Errorf("%q is not a file://, https:// or http:// URL or an absolute folder", s)
		}
		return lookaside{dir: filepath.Clean(s)}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return lookaside{}, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	switch u.Scheme {
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) || u.RawQuery != "" || u.Fragment != "" {
			return lookaside{}, fmt.Errorf("%q is not a file:// URL of an absolute folder, such as file:///var/lib/sigstore", s)
		}
		return lookaside{dir: filepath.Clean(u.Path)}, nil
	case "http", "https":
		if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return lookaside{}, fmt.Errorf("%q is not an %s:// URL of a host and path (without user, query or fragment)", s, u.Scheme)
		}
		return lookaside{url: u}, nil
	}
	return lookaside{}, fmt.Errorf("%q: podctl reads signatures from file://, https:// and http:// URLs only", s)
}

// sigLocation is where signature n of the manifest digest of repo is,
// relative to a lookaside's base. repo has passed checkPrefix, and digest
// is sha256: and 64 hex digits: neither can leave the base.
func sigLocation(repo, digest string, n int) string {
	return repo + "@" + strings.Replace(digest, ":", "=", 1) + "/signature-" + strconv.Itoa(n)
}

// sigFetcher reads signatures from lookasides.
type sigFetcher struct {
	client *http.Client
}

// newSigFetcher reads over HTTP with a registry pull's bounds: the idle
// timeout, maxRedirects and, for all bodies together, a budget that fits
// maxSignatures signatures. skipVerify accepts any TLS certificate.
func newSigFetcher(skipVerify bool, timeout time.Duration) *sigFetcher {
	g := newGuard(skipVerify, false, timeout, 2*(maxSignatures+1)*maxSignature)
	return &sigFetcher{client: &http.Client{
		Transport: g,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}}
}

// signatures reads the signatures of repo's manifest digest from l, from
// signature-1 up to the first missing one or maxSignatures. It returns
// each with where it was read.
func (f *sigFetcher) signatures(ctx context.Context, l lookaside, repo, digest string) ([]foundSig, error) {
	var out []foundSig
	for n := 1; n <= maxSignatures; n++ {
		loc := sigLocation(repo, digest, n)
		var sig []byte
		var where string
		var err error
		if l.url != nil {
			sig, where, err = f.fromURL(ctx, l.url, loc)
		} else {
			sig, where, err = fromDir(l.dir, loc)
		}
		if errors.Is(err, errNoSignature) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, foundSig{where: where, sig: sig})
	}
	return out, nil
}

// foundSig is a signature read and where it was read.
type foundSig struct {
	where string
	sig   []byte
}

// errNoSignature is a signature that is not there: the end of the list.
var errNoSignature = errors.New("no such signature")

// fromDir reads signature loc of the folder dir.
func fromDir(dir, loc string) ([]byte, string, error) {
	p := filepath.Join(dir, filepath.FromSlash(loc))
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, p, errNoSignature
	}
	if err != nil {
		return nil, p, fmt.Errorf("reading signature: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, p, fmt.Errorf("reading signature: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, p, fmt.Errorf("signature %s is not a regular file", p)
	}
	b, err := readLimited(f, maxSignature, "signature "+p)
	return b, p, err
}

// fromURL reads signature loc under base; 404 is errNoSignature.
func (f *sigFetcher) fromURL(ctx context.Context, base *url.URL, loc string) ([]byte, string, error) {
	u := base.JoinPath(loc)
	where := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, where, fmt.Errorf("signature %s: %w", where, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, where, fmt.Errorf("reading signature: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, where, errNoSignature
	case resp.StatusCode != http.StatusOK:
		return nil, where, fmt.Errorf("signature %s: the server answered %s", where, resp.Status)
	}
	b, err := readLimited(resp.Body, maxSignature, "signature "+where)
	return b, where, err
}
