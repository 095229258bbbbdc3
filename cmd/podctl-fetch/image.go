package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"podctl/datadir"
	"podctl/internal/progress"
	"podctl/store"
)

// The import-image verb:
//
//	podctl-fetch import-image [--max-image-size=BYTES] [--max-image-entries=N]
//	    [--insecure-options=LIST] [--signatures=DIR|URL] [--quiet] REF
//
// imports an OCI image layout (oci:DIR[:TAG|@sha256:HEX]), an OCI archive
// (oci-archive:FILE[:TAG|@sha256:HEX]), a docker save archive
// (docker-archive:FILE[:NAME:TAG]) or a registry image
// (docker://NAME[:TAG|@sha256:HEX]) into the store of $PODCTL_DIR and
// prints the image's ID. go-containerregistry reads the formats; the
// store checks every digest, size and entry again as it stores the
// layers. Before the store sees it, the image passes imagePolicy's check
// (a pinned digest or a trusted signature) unless --insecure-options has
// image or all; a refused image leaves nothing in the store.
func init() {
	verbs["import-image"] = importImage
}

func importImage(args []string) int {
	fs := flag.NewFlagSet("import-image", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	size := fs.Int64("max-image-size", 0, "")
	entries := fs.Int64("max-image-entries", 0, "")
	insecure := fs.String("insecure-options", "", "")
	sigs := fs.String("signatures", "", "")
	quiet := fs.Bool("quiet", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return fail(errors.New("usage: podctl-fetch import-image [--max-image-size=BYTES] [--max-image-entries=N] [--insecure-options=LIST] [--signatures=DIR|URL] [--quiet] REF"))
	}
	ref := fs.Arg(0)
	dataDir := os.Getenv("PODCTL_DIR")
	if dataDir == "" {
		return fail(errors.New("podctl-fetch import-image needs PODCTL_DIR"))
	}
	policy, err := newImagePolicy(dataDir, strings.Split(*insecure, ","), *sigs)
	if err != nil {
		return fail(fmt.Errorf("importing %s: %w", ref, err))
	}
	st, err := store.Open(datadir.ImagesDir(dataDir))
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	lim := store.Limits{MaxSize: *size, MaxEntries: *entries}
	st.SetLimits(lim)
	st.SetZstdReader(zstdReader)
	st.SetXzReader(xzReader)
	// Held from the first byte to the record: the store cleans tmp/, where
	// an OCI archive is unpacked, only when nobody holds it.
	unlock, err := st.LockShared()
	if err != nil {
		return fail(err)
	}
	defer unlock()
	li, cleanup, err := loadImage(st, ref, lim, pullFlags{insecure: *insecure, quiet: *quiet, policy: policy})
	defer cleanup()
	if err != nil {
		return fail(fmt.Errorf("importing %s: %w", ref, err))
	}
	if !strings.HasPrefix(ref, "docker:") {
		// A pull reported its layers as they came.
		reportLayers(li, progress.New(os.Stderr, *quiet))
	}
	img, err := st.ImportLayered(li)
	if err != nil {
		return fail(err)
	}
	fmt.Println(img.ID)
	return 0
}

// reportLayers has each layer of li report how far its import has come.
func reportLayers(li *store.LayeredImage, rep *progress.Reporter) {
	for i := range li.Layers {
		l := &li.Layers[i]
		open := l.Open
		name := strings.TrimPrefix(l.Digest, "sha256:")
		it := rep.Start(name[:min(12, len(name))], l.Size)
		l.Open = func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, err
			}
			return readCloser{it.Reader(rc), rc}, nil
		}
		l.Done = it.Done
	}
}

// fail prints err as podctl does, with the flag that raises a limit the
// image passed, and returns the failure status.
func fail(err error) int {
	msg := err.Error()
	var le *store.LimitError
	if errors.As(err, &le) {
		flag := "--max-image-size=SIZE"
		if le.Entries {
			flag = "--max-image-entries=N"
		}
		msg += ": if you trust the image, raise the limit with " + flag
	}
	fmt.Fprintln(os.Stderr, "podctl: "+strings.ReplaceAll(msg, "\n", " "))
	return 254
}

// pullFlags are the flags of a pull that import-image passes on.
type pullFlags struct {
	insecure string
	quiet    bool
	// policy checks the image before it is stored; nil stores it as read.
	policy *imagePolicy
}

// loadImage reads the image ref names and checks it with pf.policy.
// cleanup removes what it unpacked.
func loadImage(st *store.Store, ref string, lim store.Limits, pf pullFlags) (*store.LayeredImage, func(), error) {
	li, cleanup, err := readImage(st, ref, lim, pf)
	if err == nil && pf.policy != nil && !strings.HasPrefix(ref, dockerScheme) {
		// A pull is checked as soon as its manifest is read (pulledImage).
		err = pf.policy.check(context.Background(), li, "")
	}
	return li, cleanup, err
}

// readImage reads the image ref names.
func readImage(st *store.Store, ref string, lim store.Limits, pf pullFlags) (*store.LayeredImage, func(), error) {
	nop := func() {}
	transport, rest, _ := strings.Cut(ref, ":")
	var li *store.LayeredImage
	var err error
	switch transport {
	case "docker":
		return pulledImage(st, ref, lim, pf)
	case "oci":
		dir, sel := splitLayoutRef(rest)
		li, err = ociImage(dir, sel, baseName(dir))
	case "oci-archive":
		file, sel := splitLayoutRef(rest)
		dir, terr := st.TempDir("oci-archive-*")
		if terr != nil {
			return nil, nop, terr
		}
		cleanup := func() { os.RemoveAll(dir) }
		if err := unpackOCIArchive(file, dir, lim); err != nil {
			return nil, cleanup, err
		}
		li, err = ociImage(dir, sel, baseName(file))
		if li != nil {
			li.Reference = ref
		}
		return li, cleanup, err
	case "docker-archive":
		file, nameTag, _ := strings.Cut(rest, ":")
		li, err = dockerImage(file, nameTag)
	default:
		return nil, nop, fmt.Errorf("%q is not oci:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG|@DIGEST], docker-archive:FILE[:NAME:TAG] or docker://NAME[:TAG|@DIGEST]", ref)
	}
	if li != nil {
		li.Reference = ref
	}
	return li, nop, err
}

// layoutSelector picks an image of an OCI layout: by the digest of its
// manifest (which pins it), or by its tag, or, both empty, its one image.
type layoutSelector struct {
	tag, digest string
}

// splitLayoutRef reads what follows oci: or oci-archive:, PATH[:TAG] or
// PATH@sha256:HEX. Only a trailing @sha256: and 64 lower-case hex digits
// is a digest: a path may hold an "@" of its own.
func splitLayoutRef(rest string) (string, layoutSelector) {
	const digestLen = len("@sha256:") + 64
	if i := len(rest) - digestLen; i >= 0 && strings.HasPrefix(rest[i:], "@sha256:") && isLowerHex(rest[i+len("@sha256:"):]) {
		return rest[:i], layoutSelector{digest: rest[i+1:]}
	}
	p, tag, _ := strings.Cut(rest, ":")
	return p, layoutSelector{tag: tag}
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// pulledImage pulls the registry image ref (docker://...) into an OCI
// layout in the store's tmp/ (pull, which checks every digest and size as
// it streams), then reads it as oci: would, named after its repository
// and tagged with its tag. pf.policy checks the manifest before any layer
// is fetched. cleanup removes the layout.
func pulledImage(st *store.Store, ref string, lim store.Limits, pf pullFlags) (*store.LayeredImage, func(), error) {
	nop := func() {}
	r, err := parseRef(ref)
	if err != nil {
		return nil, nop, err
	}
	parent, err := st.TempDir("pull-*")
	if err != nil {
		return nil, nop, err
	}
	cleanup := func() { os.RemoveAll(parent) }
	args := []string{"--insecure-options=" + pf.insecure, "--quiet=" + strconv.FormatBool(pf.quiet)}
	if lim.MaxSize > 0 {
		args = append(args, "--max-image-size="+strconv.FormatInt(lim.MaxSize, 10))
	}
	dir := filepath.Join(parent, "layout")
	o, err := parsePullArgs(append(args, ref, dir), os.Stderr)
	if err != nil {
		return nil, cleanup, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	named := &store.LayeredImage{Format: store.FormatOCI, Reference: ref, Name: r.Context().Name(),
		// The pull checks the manifest (or the index it chose from)
		// against the digest asked for.
		Pinned: isDigest(r)}
	if t, ok := r.(name.Tag); ok {
		named.Tag = t.TagStr()
	}
	if pf.policy != nil {
		o.verify = func(raw []byte, d v1.Hash) error {
			named.Manifest, named.ManifestDigest = raw, d.String()
			return pf.policy.check(ctx, named, r.Context().RegistryStr())
		}
	}
	digest, err := pull(ctx, o)
	if err != nil {
		return nil, cleanup, errors.New(oneLine(err))
	}
	li, err := ociImage(dir, layoutSelector{}, named.Name)
	if err != nil {
		return nil, cleanup, err
	}
	// The manifest it was pulled by and checked, which the store checks
	// again.
	if li.ManifestDigest != digest.String() || (pf.policy != nil && li.ManifestDigest != named.ManifestDigest) {
		return nil, cleanup, fmt.Errorf("pulled %s, but the layout holds manifest %s", digest, li.ManifestDigest)
	}
	li.Reference, li.Name, li.Tag, li.Pinned, li.Signer = ref, named.Name, named.Tag, named.Pinned, named.Signer
	return li, cleanup, nil
}

// baseName names an image after its folder or file, without extensions.
func baseName(p string) string {
	b := filepath.Base(filepath.Clean(p))
	if i := strings.IndexByte(b, '.'); i > 0 {
		b = b[:i]
	}
	return b
}

// ociImage reads the image of an OCI layout that sel picks (see
// selectManifest). A ref.name that is a whole reference (NAME:TAG) names
// the image; otherwise it is named fallback. Picked by digest, it is
// pinned.
func ociImage(dir string, sel layoutSelector, fallback string) (*store.LayeredImage, error) {
	if dir == "" {
		return nil, errors.New("no OCI layout folder given")
	}
	if fi, err := os.Stat(filepath.Join(dir, "index.json")); err == nil && fi.Size() > maxMetaSize {
		return nil, fmt.Errorf("the layout's index.json is %d bytes, more than %d", fi.Size(), maxMetaSize)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout: %w", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout: %w", err)
	}
	desc, err := selectManifest(idx, sel)
	if err != nil {
		return nil, err
	}
	raw, err := readBlob(p, desc.Digest, desc.Size)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if d := digestOf(raw); d != desc.Digest.String() {
		return nil, fmt.Errorf("manifest %s: its bytes' digest is %s", desc.Digest, d)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	li, err := layoutImage(p, m, raw, desc.Digest.String())
	if err != nil {
		return nil, err
	}
	li.Name, li.Tag, li.Pinned = fallback, sel.tag, sel.digest != ""
	if rn := desc.Annotations["org.opencontainers.image.ref.name"]; strings.ContainsAny(rn, "/:") {
		li.Name, li.Tag = splitNameTag(rn)
	}
	return li, nil
}

// selectManifest finds the image manifest sel picks in the layout's index:
// the one of digest sel.digest, or the one whose
// org.opencontainers.image.ref.name is sel.tag (or ends in :TAG), or the
// layout's one image. An index found by tag or alone yields its image for
// this host's platform; a digest must name an image manifest.
func selectManifest(idx v1.ImageIndex, sel layoutSelector) (*v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout's index: %w", err)
	}
	var desc *v1.Descriptor
	var tags []string
	for i, d := range im.Manifests {
		rn := d.Annotations["org.opencontainers.image.ref.name"]
		tags = append(tags, rn)
		switch {
		case sel.digest != "":
			if d.Digest.String() == sel.digest {
				desc = &im.Manifests[i]
			}
		case (sel.tag == "" && len(im.Manifests) == 1) || (sel.tag != "" && (rn == sel.tag || strings.HasSuffix(rn, ":"+sel.tag))):
			desc = &im.Manifests[i]
		}
	}
	if desc == nil {
		sort.Strings(tags)
		switch {
		case sel.digest != "":
			return nil, fmt.Errorf("the layout has no manifest %s", sel.digest)
		case sel.tag == "":
			return nil, fmt.Errorf("the layout holds %d images (%s): name one as oci:DIR:TAG", len(im.Manifests), strings.Join(tags, ", "))
		}
		return nil, fmt.Errorf("the layout has no image tagged %q (it has %s)", sel.tag, strings.Join(tags, ", "))
	}
	if desc.MediaType.IsIndex() {
		if sel.digest != "" {
			return nil, fmt.Errorf("%s is an index of images for several platforms: pin the image manifest of this one instead", sel.digest)
		}
		if desc, err = platformImage(idx, desc); err != nil {
			return nil, err
		}
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("%s is a %s, not an image manifest", desc.Digest, desc.MediaType)
	}
	return desc, nil
}

// layoutImage reads the config and names the layers of the manifest m of
// layout p; raw is m as stored, of digest mdigest.
func layoutImage(p layout.Path, m *v1.Manifest, raw []byte, mdigest string) (*store.LayeredImage, error) {
	rawCfg, err := readBlob(p, m.Config.Digest, m.Config.Size)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	li := &store.LayeredImage{
		Format:         store.FormatOCI,
		Manifest:       raw,
		ManifestDigest: mdigest,
		Config:         rawCfg,
		ConfigDigest:   m.Config.Digest.String(),
		ParsedConfig:   imageConfig(cfg),
	}
	for _, l := range m.Layers {
		if !layerType(l.MediaType) {
			return nil, fmt.Errorf("layer %s has media type %s, which podctl does not unpack", l.Digest, l.MediaType)
		}
		h := l.Digest
		li.Layers = append(li.Layers, store.LayerSource{
			Digest: h.String(),
			Size:   l.Size,
			Open:   func() (io.ReadCloser, error) { return p.Blob(h) },
		})
	}
	return li, nil
}

// platformImage picks, in the index desc names (a multi-platform image),
// the image for this host's system and architecture.
func platformImage(idx v1.ImageIndex, desc *v1.Descriptor) (*v1.Descriptor, error) {
	child, err := idx.ImageIndex(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", desc.Digest, err)
	}
	im, err := child.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", desc.Digest, err)
	}
	var have []string
	for i, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == runtime.GOOS && d.Platform.Architecture == runtime.GOARCH && d.MediaType.IsImage() {
			return &im.Manifests[i], nil
		}
		have = append(have, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	return nil, fmt.Errorf("the image has no manifest for %s/%s (it has %s)", runtime.GOOS, runtime.GOARCH, strings.Join(have, ", "))
}

// maxMetaSize bounds a manifest or config read into memory.
const maxMetaSize = 4 << 20

// readBlob reads a small blob of a layout and checks the size its
// descriptor gives (the store checks its digest).
func readBlob(p layout.Path, h v1.Hash, size int64) ([]byte, error) {
	if size < 0 || size > maxMetaSize {
		return nil, fmt.Errorf("%s: its descriptor gives a size of %d bytes, more than %d", h, size, maxMetaSize)
	}
	rc, err := p.Blob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMetaSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("%s is %d bytes, not %d as its descriptor says", h, len(b), size)
	}
	return b, nil
}

// layerType tells whether podctl unpacks layers of media type t: tars,
// plain or compressed with gzip or zstd, OCI or Docker.
func layerType(t types.MediaType) bool {
	switch t {
	case types.OCILayer, types.OCIUncompressedLayer, types.OCILayerZStd, types.DockerLayer, types.DockerUncompressedLayer:
		return true
	}
	return false
}

// splitNameTag cuts NAME:TAG at the colon after the last slash.
func splitNameTag(s string) (string, string) {
	slash := strings.LastIndexByte(s, '/')
	if i := strings.LastIndexByte(s, ':'); i > slash {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// imageConfig is what the store takes of an image config.
func imageConfig(cf *v1.ConfigFile) store.ImageConfig {
	c := cf.Config
	ic := store.ImageConfig{
		OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant,
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, User: c.User, WorkingDir: c.WorkingDir,
		Labels: c.Labels,
	}
	for p := range c.ExposedPorts {
		ic.ExposedPorts = append(ic.ExposedPorts, p)
	}
	for v := range c.Volumes {
		ic.Volumes = append(ic.Volumes, v)
	}
	sort.Strings(ic.ExposedPorts)
	sort.Strings(ic.Volumes)
	return ic
}

// unpackOCIArchive unpacks an OCI archive (a tar of an OCI layout) into
// dir. It holds folders and files only; anything else, or a name that
// leaves dir, is refused, and its size and entries count against lim.
func unpackOCIArchive(file, dir string, lim store.Limits) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if lim.MaxSize <= 0 {
		lim.MaxSize = store.DefaultMaxSize
	}
	if lim.MaxEntries <= 0 {
		lim.MaxEntries = store.DefaultMaxEntries
	}
	var total, n int64
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading OCI archive: %w", err)
		}
		if n++; n > lim.MaxEntries {
			return &store.LimitError{Entries: true, Limit: lim.MaxEntries}
		}
		rel := path.Clean(hdr.Name)
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("OCI archive entry %q leaves the archive", hdr.Name)
		}
		dst := filepath.Join(dir, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if total += hdr.Size; total > lim.MaxSize {
				return &store.LimitError{Limit: lim.MaxSize}
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("OCI archive entry %q: %w", hdr.Name, err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("OCI archive entry %q: %w", hdr.Name, err)
			}
		default:
			return fmt.Errorf("OCI archive entry %q is of type %q: an OCI layout holds folders and files only", hdr.Name, hdr.Typeflag)
		}
	}
}

// dockerImage reads the image of a docker save archive tagged nameTag, or
// its one image. Its layers are stored as the archive has them, under
// their diff IDs, and the image ID is made from an OCI manifest that names
// them and the config.
func dockerImage(file, nameTag string) (*store.LayeredImage, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	var tag *name.Tag
	if nameTag != "" {
		t, err := name.NewTag(nameTag)
		if err != nil {
			return nil, fmt.Errorf("%q is not NAME:TAG: %w", nameTag, err)
		}
		tag = &t
	}
	sizes, err := archiveSizes(file)
	if err != nil {
		return nil, err
	}
	if sizes["manifest.json"] > maxMetaSize {
		return nil, fmt.Errorf("the archive's manifest.json is %d bytes, more than %d", sizes["manifest.json"], maxMetaSize)
	}
	mf, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("reading docker archive: %w", err)
	}
	for _, d := range mf {
		if n := sizes[path.Clean(d.Config)]; n > maxMetaSize {
			return nil, fmt.Errorf("the archive's config %s is %d bytes, more than %d", d.Config, n, maxMetaSize)
		}
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return nil, fmt.Errorf("reading docker archive: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	imgName, imgTag := nameTag, ""
	if nameTag == "" && len(mf) == 1 && len(mf[0].RepoTags) > 0 {
		imgName = mf[0].RepoTags[0]
	}
	if imgName == "" {
		imgName = baseName(file)
	} else {
		imgName, imgTag = splitNameTag(imgName)
	}
	cfgDigest := digestOf(rawCfg)
	man := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(rawCfg)), Digest: mustHash(cfgDigest)},
	}
	li := &store.LayeredImage{
		Format:       store.FormatDockerArchive,
		Name:         imgName,
		Tag:          imgTag,
		Config:       rawCfg,
		ConfigDigest: cfgDigest,
		ParsedConfig: imageConfig(cfg),
	}
	for _, d := range cfg.RootFS.DiffIDs {
		l, err := img.LayerByDiffID(d)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", d, err)
		}
		man.Layers = append(man.Layers, v1.Descriptor{MediaType: types.OCIUncompressedLayer, Digest: d})
		li.Layers = append(li.Layers, store.LayerSource{Digest: d.String(), Size: -1, Open: l.Uncompressed})
	}
	if li.Manifest, err = json.Marshal(man); err != nil {
		return nil, err
	}
	li.ManifestDigest = digestOf(li.Manifest)
	return li, nil
}

// archiveSizes lists the sizes of the files of a tar by name, reading
// only its headers.
func archiveSizes(file string) (map[string]int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sizes := map[string]int64{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return sizes, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading docker archive: %w", err)
		}
		if len(sizes) >= maxArchiveEntries {
			return nil, fmt.Errorf("the docker archive has more than %d entries", maxArchiveEntries)
		}
		sizes[path.Clean(hdr.Name)] = hdr.Size
	}
}

// maxArchiveEntries bounds the files of a docker archive: a few per layer.
const maxArchiveEntries = 100_000

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func mustHash(s string) v1.Hash {
	h, err := v1.NewHash(s)
	if err != nil {
		panic(err)
	}
	return h
}
