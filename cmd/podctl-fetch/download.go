package main

// download-aci downloads an appc image, and its detached signature, for
// podctl to import as it imports an image file:
//
//	podctl-fetch download-aci [--insecure-options=LIST] [--max-image-size=BYTES] REF DIR
//
// REF is an https:// URL of the ACI (http:// with --insecure-options=http),
// whose signature is REF.asc, or an image name, NAME[:VERSION], found by
// appc discovery: the meta tags ac-discovery of https://NAME?ac-discovery=1
// (and of each shorter prefix of NAME) give the ACI's and signature's URLs
// (github.com/appc/spec/discovery). The image is written to DIR as
// BASE.aci, with BASE.aci.asc beside it when the server has a signature;
// the path of the ACI is printed. podctl checks the signature when it
// imports the file, unless --insecure-options=image. A discovered image
// whose manifest names another image is refused.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/appc/spec/discovery"
)

func init() {
	verbs["download-aci"] = downloadACIVerb
}

// downloadIdle is how long a download may wait for its next bytes.
const downloadIdle = 60 * time.Second

func downloadACIVerb(args []string) int {
	fs := flag.NewFlagSet("download-aci", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	size := fs.Int64("max-image-size", 16<<30, "")
	insecure := fs.String("insecure-options", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		return fail(errors.New("usage: podctl-fetch download-aci [--insecure-options=LIST] [--max-image-size=BYTES] REF DIR"))
	}
	ref, dir := fs.Arg(0), fs.Arg(1)
	d := downloader{size: *size}
	for _, o := range strings.Split(*insecure, ",") {
		switch o {
		case "http":
			d.http = true
		case "tls":
			d.tls = true
		case "all":
			d.http, d.tls = true, true
		}
	}
	p, err := d.fetch(context.Background(), ref, dir)
	if err != nil {
		return fail(fmt.Errorf("fetching %s: %w", ref, err))
	}
	fmt.Println(p)
	return 0
}

// downloader fetches ACIs over HTTPS (HTTP too if http; without
// certificate checks if tls), each at most size bytes.
type downloader struct {
	http, tls bool
	size      int64
}

// fetch downloads ref into dir and returns the ACI's path.
func (d *downloader) fetch(ctx context.Context, ref, dir string) (string, error) {
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		return d.download(ctx, ref, ref+".asc", "", dir)
	}
	app, err := discovery.NewAppFromString(ref)
	if err != nil {
		return "", fmt.Errorf("not an image name, file or URL: %v", err)
	}
	if _, ok := app.Labels["os"]; !ok {
		app.Labels["os"] = runtime.GOOS
	}
	if _, ok := app.Labels["arch"]; !ok {
		app.Labels["arch"] = appcArch()
	}
	var opt discovery.InsecureOption
	if d.http {
		opt |= discovery.InsecureHTTP
	}
	if d.tls {
		opt |= discovery.InsecureTLS
	}
	// Discovery's own clients, under the same guard as the downloads: a
	// discovery page is small.
	discovery.Client.Transport = newGuard(false, !d.http, downloadIdle, maxSignature)
	discovery.ClientInsecureTLS.Transport = newGuard(true, !d.http, downloadIdle, maxSignature)
	eps, attempts, err := discovery.DiscoverACIEndpoints(*app, nil, opt, 0)
	if err != nil || len(eps) == 0 {
		why := "no ac-discovery meta tag names it"
		if err != nil {
			why = err.Error()
		}
		for _, a := range attempts {
			why += fmt.Sprintf("; %s: %v", a.Prefix, unwrapURLError(a.Error))
		}
		return "", fmt.Errorf("discovering image %s: %s", app.Name, why)
	}
	var errs []string
	for _, ep := range eps {
		p, err := d.download(ctx, ep.ACI, ep.ASC, app.Name.String(), dir)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err.Error())
	}
	return "", errors.New(strings.Join(errs, "; "))
}

// appcArch is the appc arch label of this host.
func appcArch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7l"
	}
	return runtime.GOARCH
}

// client makes the HTTP client of a download: the guard of registry pulls
// bounds it (idle time, redirects, the bytes of all its bodies).
func (d *downloader) client() *http.Client {
	g := newGuard(d.tls, !d.http, downloadIdle, d.size+maxSignature)
	return &http.Client{Transport: g}
}

// download writes the ACI at aciURL, and its signature at ascURL if the
// server has one, into dir. want, if set, is the name the ACI's manifest
// must hold.
func (d *downloader) download(ctx context.Context, aciURL, ascURL, want, dir string) (string, error) {
	u, err := url.Parse(aciURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL", aciURL)
	}
	if u.Scheme == "http" && !d.http {
		return "", fmt.Errorf("%s is plain HTTP: use https://, or pass --insecure-options=http to fetch it unencrypted", u.Redacted())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%s: podctl fetches https:// URLs", u.Redacted())
	}
	base := strings.TrimSuffix(path.Base(u.Path), ".aci")
	if base == "" || base == "." || base == "/" || strings.ContainsAny(base, `/\`) {
		base = "image"
	}
	aciPath := filepath.Join(dir, base+".aci")
	c := d.client()
	if err := get(ctx, c, aciURL, aciPath, d.size, true); err != nil {
		return "", err
	}
	if err := get(ctx, c, ascURL, aciPath+".asc", maxSignature, false); err != nil {
		return "", err
	}
	if want != "" {
		f, err := os.Open(aciPath)
		if err != nil {
			return "", err
		}
		defer f.Close()
		name, err := aciName(f)
		if err != nil {
			return "", fmt.Errorf("%s: %w", u.Redacted(), err)
		}
		if name != want {
			return "", fmt.Errorf("%s holds image %s, not %s, which discovery was asked for", u.Redacted(), name, want)
		}
	}
	return aciPath, nil
}

// get writes the body of rawURL to file, at most limit bytes. A missing
// file (404) is an error only if required.
func get(ctx context.Context, c *http.Client, rawURL, file string, limit int64, required bool) error {
	req, err := newRequest(ctx, rawURL)
	if err != nil {
		return err
	}
	shown := req.URL.Redacted()
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && !required {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", shown, resp.Status)
	}
	if resp.ContentLength > limit {
		return fmt.Errorf("GET %s: %d bytes, over the limit of %d: if you trust the image, raise the limit with --max-image-size=SIZE", shown, resp.ContentLength, limit)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// Not fsynced: podctl imports the file at once, and a crash loses
	// only a download to redo.
	n, err := io.Copy(f, io.LimitReader(resp.Body, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("GET %s: %w", shown, err)
	}
	if n > limit {
		return fmt.Errorf("GET %s: over the limit of %d bytes: if you trust the image, raise the limit with --max-image-size=SIZE", shown, limit)
	}
	return nil
}

// unwrapURLError drops net/http's repetition of the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
