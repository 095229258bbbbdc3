package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"podctl/store"
)

// maxManifest bounds one manifest or index, as the OCI distribution spec
// lets registries bound them (4 MiB); go-containerregistry alone would read
// 100 MiB of a manifest that never ends.
const maxManifest = 4 << 20

// guard is the HTTP transport under go-containerregistry's: every request
// and response of a pull passes here, so that what a hostile registry
// sends is bounded whatever the library does with it.
//
//   - HTTPS only, unless plain HTTP is allowed: an http:// URL (which
//     go-containerregistry uses for loopback and private addresses, and a
//     redirect may name) is sent as https://.
//   - A response whose headers, or whose next bytes of body, take longer
//     than idle is cut off.
//   - A manifest response is cut off past maxManifest bytes; all bodies
//     together past budget bytes (the image's size limit, plus room for
//     manifests and token answers).
//   - At most maxRedirects redirects are followed.
type guard struct {
	base      http.RoundTripper
	https     bool // send http:// requests as https://
	idle      time.Duration
	budget    int64
	read      atomic.Int64 // body bytes read, all requests together
	maxString string       // the budget as the user wrote it, for errors
}

func newGuard(skipVerify, https bool, idle time.Duration, budget int64) *guard {
	dialer := &net.Dialer{Timeout: idle, KeepAlive: 30 * time.Second}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: skipVerify, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   idle,
		ResponseHeaderTimeout: idle,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &guard{base: base, https: https, idle: idle, budget: budget, maxString: store.FormatSize(budget)}
}

// errIdle is a response that stopped for longer than the idle timeout.
var errIdle = errors.New("no data")

// maxRedirects is how many redirects one request may follow.
// go-containerregistry's client replaces net/http's cap of 10 with its own
// check, which lets a registry redirect to itself forever: the guard
// counts instead, from the chain of responses the client links to each
// request it sends after a redirect.
const maxRedirects = 10

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	hops := 0
	for r := req.Response; r != nil && r.Request != nil; r = r.Request.Response {
		hops++
	}
	if hops > maxRedirects {
		return nil, fmt.Errorf("GET %s: stopped after %d redirects", req.URL.Redacted(), maxRedirects)
	}
	if req.URL.Scheme == "http" && g.https {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	stall := time.AfterFunc(g.idle, func() { cancel(fmt.Errorf("%w for %s", errIdle, g.idle)) })
	resp, err := g.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stall.Stop()
		if c := context.Cause(ctx); errors.Is(c, errIdle) {
			err = c
		}
		cancel(nil)
		return nil, err
	}
	limit := int64(-1)
	if strings.Contains(req.URL.Path, "/manifests/") {
		limit = maxManifest
	}
	resp.Body = &guardedBody{rc: resp.Body, g: g, ctx: ctx, stall: stall, cancel: cancel, limit: limit}
	return resp, nil
}

// guardedBody is a response body under the guard's limits.
type guardedBody struct {
	rc     io.ReadCloser
	g      *guard
	ctx    context.Context
	stall  *time.Timer
	cancel context.CancelCauseFunc
	limit  int64 // bytes this body may hold, -1 for any
	n      int64
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.stall.Reset(b.g.idle)
	b.n += int64(n)
	if b.limit >= 0 && b.n > b.limit {
		return 0, fmt.Errorf("manifest over %d bytes", b.limit)
	}
	if b.g.read.Add(int64(n)) > b.g.budget {
		return 0, fmt.Errorf("image over the size limit of %s: if you trust the image, raise the limit with --max-image-size=SIZE", b.g.maxString)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		if c := context.Cause(b.ctx); errors.Is(c, errIdle) {
			err = c
		}
	}
	return n, err
}

func (b *guardedBody) Close() error {
	b.stall.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

func newRequest(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}
