package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"podctl/internal/progress"
	"podctl/store"
)

// The pull verb:
//
//	podctl-fetch pull [--insecure-options=http,tls] [--mirror REG=HOST]...
//	    [--max-image-size SIZE] [--timeout DURATION] [--quiet] REF DIR
//
// copies the registry image REF (docker://...) into a new OCI image layout
// DIR, the image manifest for this host's platform when REF names an
// index, and prints that manifest's digest. Every blob is checked against
// the digest and size its manifest gives while it streams. DIR appears
// whole or not at all: the copy is made in a folder beside it and renamed
// at the end.
func init() { verbs["pull"] = pullVerb }

// defaultTimeout is how long a request may wait for its answer, or a
// response for its next bytes.
const defaultTimeout = 60 * time.Second

// pullSlack is what a pull may read beyond the image's size limit:
// manifests, the index, token answers and error bodies.
const pullSlack = 64 << 20

type pullOptions struct {
	ref        string
	dir        string
	allowHTTP  bool // plain HTTP to registries that do not speak HTTPS
	skipVerify bool // accept any TLS certificate
	mirrors    mirrorSet
	maxSize    int64
	timeout    time.Duration
	platform   v1.Platform
	keychain   authn.Keychain
	progress   *progress.Reporter
	notes      io.Writer // where a failed mirror is told
	// verify, if set, accepts or refuses the image manifest (raw, of
	// digest d) before any blob is fetched.
	verify func(raw []byte, d v1.Hash) error
}

func pullVerb(args []string) int {
	return pullMain(args, os.Stdout, os.Stderr)
}

func pullMain(args []string, stdout io.Writer, stderr *os.File) int {
	o, err := parsePullArgs(args, stderr)
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		var d v1.Hash
		d, err = pull(ctx, o)
		stop()
		if err == nil {
			fmt.Fprintln(stdout, d)
			return 0
		}
	}
	fmt.Fprintf(stderr, "podctl: %s\n", oneLine(err))
	return 254
}

// oneLine makes err's text one line, whatever a registry put in it.
func oneLine(err error) string {
	s := err.Error()
	if strings.Contains(s, "server gave HTTP response to HTTPS client") {
		s += ": the registry speaks plain HTTP; if you trust the network to it, use --insecure-options=http"
	}
	if strings.Contains(s, "x509: ") || strings.Contains(s, "tls: failed to verify") {
		s += ": if you trust the network to the registry, use --insecure-options=tls to skip certificate checks"
	}
	return strings.Join(strings.Fields(s), " ")
}

func parsePullArgs(args []string, stderr *os.File) (pullOptions, error) {
	fs := pflag.NewFlagSet("pull", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	insecure := fs.StringSlice("insecure-options", nil, "http: allow plain HTTP; tls: skip certificate checks")
	mirrors := fs.StringArray("mirror", nil, "REGISTRY=HOST: try HOST first for REGISTRY's images")
	maxSize := fs.String("max-image-size", store.FormatSize(store.DefaultMaxSize), "refuse an image larger than this")
	timeout := fs.Duration("timeout", defaultTimeout, "longest wait for a registry's answer or its next bytes")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return pullOptions{}, fmt.Errorf("pull: %w", err)
	}
	if fs.NArg() != 2 {
		return pullOptions{}, errors.New("pull: want REF DIR, such as pull docker://busybox:latest ./busybox.oci")
	}
	o := pullOptions{
		ref: fs.Arg(0), dir: fs.Arg(1), mirrors: mirrorSet{}, timeout: *timeout,
		platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		keychain: keychain{},
		progress: progress.New(stderr, *quiet),
		notes:    stderr,
	}
	for _, v := range *insecure {
		switch v {
		case "http":
			o.allowHTTP = true
		case "tls":
			o.skipVerify = true
		case "all", "all-fetch":
			o.allowHTTP, o.skipVerify = true, true
		case "none", "image", "pubkey", "ondisk":
			// Not the business of a pull: signatures and the store are
			// checked elsewhere.
		default:
			return o, fmt.Errorf("unknown --insecure-options value %q: a pull knows http, tls, all and none", v)
		}
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("--timeout %s: want a positive duration", o.timeout)
	}
	var err error
	if o.maxSize, err = store.ParseSize(*maxSize); err != nil {
		return o, fmt.Errorf("--max-image-size: %w", err)
	}
	// Without a data directory (a pull run by hand) there is no mirrors
	// file to read.
	if dir := os.Getenv("PODCTL_DIR"); dir != "" {
		if err := loadMirrors(dir, o.mirrors); err != nil {
			return o, err
		}
	}
	for _, m := range *mirrors {
		if err := o.mirrors.addFlag(m); err != nil {
			return o, err
		}
	}
	return o, nil
}

// pull copies o.ref into the new layout o.dir and returns the digest of
// the image manifest it copied. Mirrors of the reference's registry are
// tried first, then the registry itself.
func pull(ctx context.Context, o pullOptions) (v1.Hash, error) {
	ref, err := parseRef(o.ref)
	if err != nil {
		return v1.Hash{}, err
	}
	if _, err := os.Lstat(o.dir); err == nil {
		return v1.Hash{}, fmt.Errorf("%s already exists: pull writes a new folder", o.dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return v1.Hash{}, err
	}
	var lastErr error
	hosts := append(append([]string(nil), o.mirrors[ref.Context().RegistryStr()]...), "")
	for _, host := range hosts {
		src := ref
		if host != "" {
			if src, err = onHost(ref, host); err != nil {
				return v1.Hash{}, err
			}
		}
		d, err := pullFrom(ctx, o, ref, src)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil || host == "" {
			return v1.Hash{}, fmt.Errorf("pulling %s: %w", src, err)
		}
		fmt.Fprintf(o.notes, "podctl: note: mirror %s of %s: %s; trying the next\n", host, ref.Context().RegistryStr(), oneLine(err))
		lastErr = err
	}
	return v1.Hash{}, lastErr
}

// pullFrom copies src into o.dir, naming the image ref in the layout.
func pullFrom(ctx context.Context, o pullOptions, ref, src name.Reference) (d v1.Hash, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	host := src.Context().RegistryStr()
	// HTTPS unless plain HTTP is allowed and the host does not answer it.
	https := !o.allowHTTP || speaksHTTPS(ctx, o, host)
	g := newGuard(o.skipVerify, https, o.timeout, o.maxSize+pullSlack)
	if !https {
		if src, err = onHost(src, host, name.Insecure); err != nil {
			return d, err
		}
	}
	img, err := remote.Image(src,
		remote.WithContext(ctx),
		remote.WithTransport(g),
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithPlatform(o.platform),
		remote.WithUserAgent("podctl-fetch"),
	)
	if err != nil {
		return d, err
	}
	if o.verify != nil {
		if err := verifyManifest(img, o.verify); err != nil {
			return d, err
		}
	}

	parent, base := filepath.Split(filepath.Clean(o.dir))
	if parent == "" {
		parent = "."
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".pull-")
	if err != nil {
		return d, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if d, err = writeLayout(ctx, cancel, img, tmp, ref, o); err != nil {
		return d, err
	}
	if err = syncTree(tmp); err != nil {
		return d, err
	}
	if err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, o.dir, unix.RENAME_NOREPLACE); err != nil {
		return d, fmt.Errorf("renaming the pulled image to %s: %w", o.dir, err)
	}
	return d, syncDir(parent)
}

// verifyManifest hands the image manifest of img and its digest to verify.
func verifyManifest(img v1.Image, verify func([]byte, v1.Hash) error) error {
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	return verify(raw, d)
}

// speaksHTTPS tells whether host answers HTTPS at all (any HTTP status).
func speaksHTTPS(ctx context.Context, o pullOptions, host string) bool {
	g := newGuard(o.skipVerify, true, o.timeout, pullSlack)
	req, err := newRequest(ctx, "https://"+host+"/v2/")
	if err != nil {
		return false
	}
	resp, err := g.RoundTrip(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// writeLayout writes img into the empty folder dir as an OCI image
// layout: its blobs, then the manifest, then index.json naming it.
func writeLayout(ctx context.Context, cancel func(), img v1.Image, dir string, ref name.Reference, o pullOptions) (v1.Hash, error) {
	mt, err := img.MediaType()
	if err != nil {
		return v1.Hash{}, err
	}
	if mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2 {
		return v1.Hash{}, fmt.Errorf("manifest of type %q: podctl pulls OCI and Docker schema 2 images", mt)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	total := m.Config.Size
	for _, l := range m.Layers {
		if l.Size < 0 {
			return v1.Hash{}, fmt.Errorf("layer %s has a negative size", l.Digest)
		}
		total += l.Size
	}
	if m.Config.Size < 0 || total > o.maxSize {
		return v1.Hash{}, fmt.Errorf("image of %s compressed, over the size limit of %s: if you trust the image, raise the limit with --max-image-size=SIZE", store.FormatSize(total), store.FormatSize(o.maxSize))
	}

	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	cfg, err := img.RawConfigFile() // checked against its digest and size
	if err != nil {
		return v1.Hash{}, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if err := p.WriteBlob(m.Config.Digest, io.NopCloser(bytes.NewReader(cfg))); err != nil {
		return v1.Hash{}, err
	}
	if err := writeLayers(ctx, cancel, img, m, p, o.progress); err != nil {
		return v1.Hash{}, err
	}
	if err := p.WriteBlob(d, io.NopCloser(bytes.NewReader(raw))); err != nil {
		return v1.Hash{}, err
	}
	ann := map[string]string{"io.containerd.image.name": ref.Name()}
	if t, ok := ref.(name.Tag); ok {
		ann["org.opencontainers.image.ref.name"] = t.TagStr()
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d, Annotations: ann}
	if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
		desc.Platform = cf.Platform()
	}
	return d, p.AppendDescriptor(desc)
}

// parallelLayers is how many layers are copied at once.
const parallelLayers = 3

// writeLayers copies the layers of m, a few at a time, each checked
// against its digest and size while it streams; the first failure cancels
// the others.
func writeLayers(ctx context.Context, cancel func(), img v1.Image, m *v1.Manifest, p layout.Path, rep *progress.Reporter) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, parallelLayers)
		seen  = map[v1.Hash]bool{}
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	for _, desc := range m.Layers {
		if seen[desc.Digest] {
			continue
		}
		seen[desc.Digest] = true
		slots <- struct{}{}
		if ctx.Err() != nil {
			<-slots
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := copyLayer(img, desc, p, rep); err != nil {
				fail(fmt.Errorf("layer %s: %w", desc.Digest, err))
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return first
}

func copyLayer(img v1.Image, desc v1.Descriptor, p layout.Path, rep *progress.Reporter) error {
	l, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	it := rep.Start(desc.Digest.Hex[:min(12, len(desc.Digest.Hex))], desc.Size)
	err = p.WriteBlob(desc.Digest, readCloser{it.Reader(rc), rc})
	it.Done(err)
	return err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// syncTree flushes every file and folder under dir to disk, so that the
// rename that shows the layout shows it whole after a crash too.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return syncDir(path)
	})
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
