package store

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"podctl/internal/fsutil"
)

// Layered images (OCI image layouts and archives, docker save archives) sit
// in the same store as ACIs, with the same index, trees and gc:
//
//	blobs/sha512/<hex>   the image's manifest (OCI, or one made for a docker
//	                     archive): the image ID is sha512- and its SHA-512
//	blobs/sha256/<hex>   its config and its layers, each under its own
//	                     digest as the manifest names it, so that a layer
//	                     two images share is stored once
//
// The index record names the format, the reference the image was fetched
// by, the digest it was pulled by, its config and its layers in order; the
// manifests bucket holds an appc image manifest made from the config, so
// that stage0 resolves, lists and runs a layered image as it does an ACI.
// The formats themselves are parsed in podctl-fetch, which links the
// libraries for them; the store only takes digests, bytes and a config
// already mapped to ImageConfig, and checks every byte again.

// The formats of the images in the store.
const (
	FormatACI           = "aci"
	FormatOCI           = "oci"
	FormatDockerArchive = "docker-archive"
)

// ImageConfig is what podctl takes from an OCI or Docker image config.
type ImageConfig struct {
	OS           string            `json:"os,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
	Variant      string            `json:"variant,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          []string          `json:"env,omitempty"`
	User         string            `json:"user,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"` // "80/tcp"
	Volumes      []string          `json:"volumes,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// LayerSource is one layer of a layered image, as its manifest names it.
type LayerSource struct {
	// Digest is "sha256:" and the hex digest of the bytes Open returns.
	Digest string
	// Size is their length, or -1 where the format does not say.
	Size int64
	// Open returns the layer: a tar, plain or compressed with gzip or
	// zstd (told apart by their magic numbers).
	Open func() (io.ReadCloser, error)
	// Done, if set, is told how storing the layer ended: nil once it is
	// checked and stored, or why it was refused.
	Done func(error)
}

// LayeredImage is an image to import with ImportLayered.
type LayeredImage struct {
	// Format is FormatOCI or FormatDockerArchive.
	Format string
	// Reference is what the user fetched the image as, such as
	// oci-archive:busybox.tar:1.36.
	Reference string
	// Name and Tag are the image's name and tag; the tag becomes its
	// version label ("latest" if empty).
	Name, Tag string
	// Manifest is the image manifest; the image ID is made from it.
	Manifest []byte
	// ManifestDigest is the digest the image was pulled by, "sha256:"
	// and the hex digest of Manifest.
	ManifestDigest string
	// Config and ConfigDigest are the image config as stored and its
	// digest; ParsedConfig is what it says.
	Config       []byte
	ConfigDigest string
	ParsedConfig ImageConfig
	Layers       []LayerSource
	// Signer is the fingerprint (lower-case hex) of the key whose
	// signature of the manifest was accepted; Pinned says the image was
	// named by its manifest's digest. Both empty: nothing was verified.
	Signer string
	Pinned bool
}

// maxLayers bounds the layers of one image; real ones have a few dozen.
const maxLayers = 1000

// layered tells whether a record is of a layered image.
func (r record) layered() bool { return r.Format != "" && r.Format != FormatACI }

func (s *Store) blob256Dir() string { return filepath.Join(s.dir, "blobs", "sha256") }

// blob256Path returns the path of a "sha256:<hex>" digest checked by
// checkDigest256.
func (s *Store) blob256Path(digest string) string {
	return filepath.Join(s.blob256Dir(), strings.TrimPrefix(digest, "sha256:"))
}

// checkDigest256 refuses anything but "sha256:" and 64 lower-case hex
// digits; every path built from a layer's digest goes through it.
func checkDigest256(what, d string) error {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || !isLowerHex(h) {
		return fmt.Errorf("%w: %s digest %q is not sha256: and 64 hex digits", ErrInvalid, what, truncName(d))
	}
	return nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ImportLayered stores a layered image. Every layer is read to its end,
// its digest and size checked and its entries checked (names, whiteouts,
// the store's Limits, counted over the whole image) into tmp/ before any of
// it becomes visible; then the config, the layers, the manifest and last
// the index record are put in place. A refused image leaves nothing behind.
func (s *Store) ImportLayered(li *LayeredImage) (Image, error) {
	unlock, err := s.hold(false)
	if err != nil {
		return Image{}, fmt.Errorf("importing image: %w", err)
	}
	defer unlock()
	img, err := s.importLayered(li)
	if err != nil {
		return Image{}, fmt.Errorf("importing %s: %w", li.Reference, err)
	}
	return img, nil
}

func (s *Store) importLayered(li *LayeredImage) (Image, error) {
	if li.Format != FormatOCI && li.Format != FormatDockerArchive {
		return Image{}, fmt.Errorf("%w: unknown image format %q", ErrInvalid, li.Format)
	}
	if err := checkSigner(li.Signer); err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if d := sha256Digest(li.Manifest); d != li.ManifestDigest {
		return Image{}, fmt.Errorf("%w: the manifest's digest is %s, not %s as its index says", ErrInvalid, d, li.ManifestDigest)
	}
	if err := checkDigest256("config", li.ConfigDigest); err != nil {
		return Image{}, err
	}
	if d := sha256Digest(li.Config); d != li.ConfigDigest {
		return Image{}, fmt.Errorf("%w: the config's digest is %s, not %s as the manifest says", ErrInvalid, d, li.ConfigDigest)
	}
	if len(li.Layers) > maxLayers {
		return Image{}, fmt.Errorf("%w: %d layers, more than %d", ErrInvalid, len(li.Layers), maxLayers)
	}
	if err := os.MkdirAll(s.blob256Dir(), 0o700); err != nil {
		return Image{}, fmt.Errorf("creating blob folder: %w", err)
	}

	var temps []string // files in tmp/ to rename in, or remove on failure
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	sc := newLayerScan(s.currentLimits(), li.ParsedConfig)
	sc.zstd = s.zstdReader()
	var digests []string
	for i, l := range li.Layers {
		if err := checkDigest256(fmt.Sprintf("layer %d", i+1), l.Digest); err != nil {
			return Image{}, err
		}
		tmp, err := s.storeLayer(l, sc)
		if err != nil {
			return Image{}, fmt.Errorf("layer %d (%s): %w", i+1, shortDigest(l.Digest), err)
		}
		temps = append(temps, tmp)
		digests = append(digests, l.Digest)
	}
	tag := li.Tag
	if tag == "" {
		tag = "latest"
	}
	manifest, err := layeredManifest(li.Name, tag, li.ParsedConfig, sc.lookPath, sc.passwdFile())
	if err != nil {
		return Image{}, err
	}

	// Nothing is refused from here on: put the blobs in place, the image's
	// own (its manifest) last, then its record.
	cfgTmp, err := s.writeTemp(li.Config)
	if err != nil {
		return Image{}, err
	}
	temps = append(temps, cfgTmp)
	for i, t := range temps {
		dst := s.blob256Path(li.ConfigDigest)
		if i < len(digests) {
			dst = s.blob256Path(digests[i])
		}
		if err := placeBlob(t, dst); err != nil {
			return Image{}, err
		}
	}
	temps = nil
	if err := fsutil.SyncDir(s.blob256Dir()); err != nil {
		return Image{}, err
	}
	sum := sha512.Sum512(li.Manifest)
	digest := hex.EncodeToString(sum[:])
	manTmp, err := s.writeTemp(li.Manifest)
	if err != nil {
		return Image{}, err
	}
	if err := placeBlob(manTmp, s.blobPath(digest)); err != nil {
		os.Remove(manTmp)
		return Image{}, err
	}
	if err := fsutil.SyncDir(s.blobDir()); err != nil {
		return Image{}, err
	}
	im, err := parseManifest(manifest)
	if err != nil {
		return Image{}, err
	}
	labels := make(map[string]string, len(im.Labels))
	for _, l := range im.Labels {
		labels[l.Name.String()] = l.Value
	}
	now := time.Now()
	id := idFromDigest(digest)
	rec, err := s.addImage(id, record{
		Digest:         digest,
		Name:           im.Name.String(),
		Labels:         labels,
		ImportTime:     now,
		LastUsed:       now,
		Size:           sc.unpacked,
		Entries:        sc.count.entries,
		FileSize:       sc.count.declared,
		Format:         li.Format,
		Reference:      li.Reference,
		ManifestDigest: li.ManifestDigest,
		Config:         li.ConfigDigest,
		Layers:         digests,
		Signer:         li.Signer,
		Pinned:         li.Pinned,
	}, manifest)
	if err != nil {
		return Image{}, err
	}
	return imageOf(id, rec), nil
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// writeTemp writes b to a synced file in tmp/ and returns its path.
func (s *Store) writeTemp(b []byte) (string, error) {
	f, err := os.CreateTemp(s.tmpDir(), "blob-*")
	if err != nil {
		return "", fmt.Errorf("creating blob: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing blob: %w", err)
	}
	return f.Name(), nil
}

// placeBlob renames a blob from tmp/ to dst; a blob already there has the
// same content, and the new copy is dropped.
func placeBlob(tmp, dst string) error {
	err := renameNoReplace(tmp, dst)
	if errors.Is(err, os.ErrExist) {
		err = os.Remove(tmp)
	}
	if err != nil {
		return fmt.Errorf("storing blob: %w", err)
	}
	return nil
}

// storeLayer copies a layer into tmp/ while it checks it, and returns the
// copy's path. The copy is synced; the caller renames it in or removes it.
func (s *Store) storeLayer(l LayerSource, sc *layerScan) (path string, err error) {
	if l.Done != nil {
		defer func() { l.Done(err) }()
	}
	rc, err := l.Open()
	if err != nil {
		return "", fmt.Errorf("opening: %w", err)
	}
	defer rc.Close()
	f, err := createTemp(s.tmpDir(), "layer-*", "blob")
	if err != nil {
		return "", err
	}
	defer f.discard()
	h := sha256.New()
	bw := bufio.NewWriterSize(f, 1<<20)
	sink := &errWriter{w: io.MultiWriter(h, bw)}
	// A layer is at most what the limit allows compressed too.
	src := &errReader{r: &limitReader{r: rc, max: sc.count.lim.MaxSize}}
	tee := io.TeeReader(src, sink)
	if err := sc.scan(tee); err != nil {
		if sink.err != nil {
			return "", fmt.Errorf("writing blob: %w", sink.err)
		}
		if le := (*LimitError)(nil); errors.As(err, &le) {
			return "", le
		}
		return "", src.blame(err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", src.blame(err)
	}
	if sink.err != nil {
		return "", fmt.Errorf("writing blob: %w", sink.err)
	}
	if l.Size >= 0 && sink.n != l.Size {
		return "", fmt.Errorf("%w: it is %d bytes, not %d as the manifest says", ErrInvalid, sink.n, l.Size)
	}
	if d := "sha256:" + hex.EncodeToString(h.Sum(nil)); d != l.Digest {
		return "", fmt.Errorf("%w: its content has digest %s, not %s as the manifest says", ErrInvalid, d, l.Digest)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("writing blob: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("syncing blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing blob: %w", err)
	}
	// The caller renames it into place, or removes it.
	f.keep()
	return f.Name(), nil
}

// Decompressor decompresses a stream (zstd, xz); Close releases it.
type Decompressor func(io.Reader) (io.ReadCloser, error)

// SetZstdReader sets how the Store decompresses zstd layers; without it a
// zstd layer is refused. The decoder is not linked into the store, so
// that podctl does not pay its initialisation on every start: podctl-fetch
// links one, and podctl runs podctl-fetch to decompress.
func (s *Store) SetZstdReader(f Decompressor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zstd = f
}

func (s *Store) zstdReader() Decompressor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zstd
}

// SetXzReader sets how the Store decompresses xz archives (ACIs and
// rootfs tarballs); without it one is refused. As zstd's, the decoder is
// not linked into podctl, whose every process would pay its
// initialisation: podctl-fetch decompresses for it.
func (s *Store) SetXzReader(f Decompressor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.xz = f
}

func (s *Store) xzReader() Decompressor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.xz
}

// decompressLayer returns a reader of the plain tar of a layer, plain or
// compressed with gzip or zstd (through zr), and a function that
// releases it.
func decompressLayer(r io.Reader, zr Decompressor) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		gr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return gr, func() { gr.Close() }, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		if zr == nil {
			return nil, nil, fmt.Errorf("%w: a zstd layer, and this podctl has no zstd decoder", ErrInvalid)
		}
		rc, err := zr(br)
		if err != nil {
			return nil, nil, err
		}
		return rc, func() { rc.Close() }, nil
	}
	return br, func() {}, nil
}

// layerScan checks the layers of one image in order, counting their
// entries and sizes against the store's limits over the whole image. It
// keeps the tree as the layers read so far leave it, names only, to refuse
// an entry that goes through a symlink of an earlier entry (the extractor
// would refuse it at render; refused here, the image is never stored) and
// to find the config's command on the image's PATH.
type layerScan struct {
	count    tally
	unpacked int64    // uncompressed bytes of all layers so far
	pathList []string // the image's PATH, in order, relative to the root
	root     pathNode
	layer    int // the layer being read, from 1
	zstd     Decompressor
	passwd   []byte // the last etc/passwd written, if a file
}

// maxPasswdSize bounds the etc/passwd kept; real ones are a few kilobytes.
const maxPasswdSize = 1 << 20

// passwdFile is the image's etc/passwd, if it is a file of the last layer
// that wrote it.
func (sc *layerScan) passwdFile() []byte {
	if n := sc.find("etc/passwd"); n == nil || n.kind != kindFile {
		return nil
	}
	return sc.passwd
}

// pathNode is one path of the tree a layerScan keeps.
type pathNode struct {
	kids  map[string]*pathNode
	kind  entryKind
	layer int // the layer that wrote it
}

func newLayerScan(lim Limits, cfg ImageConfig) *layerScan {
	sc := &layerScan{count: tally{lim: lim.withDefaults()}, root: pathNode{kind: kindDir}}
	for _, d := range strings.Split(searchPath(cfg.Env), ":") {
		if path.IsAbs(d) {
			sc.pathList = append(sc.pathList, strings.TrimPrefix(path.Clean(d), "/"))
		}
	}
	return sc
}

// find returns the node of rel ("" for the root), or nil.
func (sc *layerScan) find(rel string) *pathNode {
	n := &sc.root
	if rel == "" {
		return n
	}
	for _, c := range strings.Split(rel, "/") {
		if n = n.kids[c]; n == nil {
			return nil
		}
	}
	return n
}

// linkable tells whether a hard link may point at target (checked by
// checkLayerEntry): an entry that is not a folder, reached without a
// symlink, as the extractor requires.
func (sc *layerScan) linkable(target string) bool {
	n := &sc.root
	for _, c := range strings.Split(path.Clean(target), "/") {
		if n.kind != kindDir {
			return false
		}
		if n = n.kids[c]; n == nil {
			return false
		}
	}
	return n != &sc.root && n.kind != kindDir
}

// lookPath finds a command in the layers' files, as a shell would on the
// image's PATH.
func (sc *layerScan) lookPath(cmd string) (string, bool) {
	for _, d := range sc.pathList {
		rel := strings.TrimPrefix(path.Join(d, cmd), "/")
		if n := sc.find(rel); n != nil && n.kind != kindDir {
			return "/" + rel, true
		}
	}
	return "", false
}

// scan reads one layer's tar to its end, checking each entry.
func (sc *layerScan) scan(r io.Reader) error {
	dr, release, err := decompressLayer(r, sc.zstd)
	if err != nil {
		return err
	}
	defer release()
	sc.layer++
	lr := &limitReader{r: dr, max: sc.count.lim.MaxSize - sc.unpacked}
	tr := tar.NewReader(lr)
	for {
		hdr, err := nextEntry(tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := sc.count.add(hdr); err != nil {
			return err
		}
		lw, err := sc.entry(hdr)
		if err != nil {
			return err
		}
		if lw.rel == "etc/passwd" && !lw.whiteout && !lw.opaque {
			// Kept to find a user's primary group (layeredApp).
			sc.passwd = nil
			if lw.kind == kindFile && hdr.Size <= maxPasswdSize {
				if sc.passwd, err = io.ReadAll(tr); err != nil {
					return err
				}
			}
		}
	}
	// The rest of the stream (tar padding) counts and must decompress.
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return err
	}
	sc.unpacked += lr.n
	return nil
}

// entry checks one entry of a layer by its name, and applies it to the
// tree of names.
func (sc *layerScan) entry(hdr *tar.Header) (layerEntry, error) {
	lw, err := checkLayerEntry(hdr)
	if err != nil {
		return layerEntry{}, err
	}
	if lw.skip || lw.rel == "" && !lw.opaque {
		return lw, nil
	}
	return lw, sc.apply(hdr, lw)
}

// apply applies one checked entry to the tree of names.
func (sc *layerScan) apply(hdr *tar.Header, lw layerEntry) error {
	// Walk to the parent, refusing a symlink on the way, making the
	// folders that are not there (as the extractor does).
	n := &sc.root
	dir, base := path.Split(lw.rel)
	if lw.opaque {
		dir, base = lw.rel, ""
	}
	for _, c := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
		if c == "" {
			continue
		}
		k := n.kids[c]
		switch {
		case k == nil:
			if lw.whiteout || lw.opaque {
				return nil // nothing there to remove
			}
			k = &pathNode{kind: kindDir, layer: sc.layer}
			if n.kids == nil {
				n.kids = map[string]*pathNode{}
			}
			n.kids[c] = k
		case k.kind == kindSymlink:
			return invalidEntry(hdr.Name, "goes through %q, a symlink of the image", c)
		case k.kind != kindDir:
			return invalidEntry(hdr.Name, "goes through %q, which is not a directory", c)
		}
		n = k
	}
	switch {
	case lw.opaque:
		// What this layer wrote stays; the layers below are hidden.
		for name, k := range n.kids {
			if k.layer < sc.layer {
				delete(n.kids, name)
			}
		}
	case lw.whiteout:
		delete(n.kids, base)
	default:
		if lw.kind == kindHardlink && !sc.linkable(hdr.Linkname) {
			return invalidEntry(hdr.Name, "is a hard link to %q, which is not a file of the image so far", hdr.Linkname)
		}
		k := n.kids[base]
		if k != nil && k.kind == kindDir && lw.kind == kindDir {
			return nil // a folder over a folder keeps what is in it
		}
		if n.kids == nil {
			n.kids = map[string]*pathNode{}
		}
		n.kids[base] = &pathNode{kind: lw.kind, layer: sc.layer}
	}
	return nil
}

// The names of OCI whiteouts: a file .wh.NAME deletes NAME of the layers
// below, and .wh..wh..opq in a folder empties it of what the layers below
// put there. Other names starting .wh..wh. are aufs bookkeeping, skipped.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// layerEntry is what one entry of a layer does to the tree.
type layerEntry struct {
	rel      string // the path it writes or removes, "" for the root
	kind     entryKind
	whiteout bool // rel is to be removed
	opaque   bool // rel is to be emptied
	skip     bool
}

// checkLayerEntry checks an entry's name, link and type as the ACI
// validator does, and its whiteout: a whiteout naming "..", "." or nothing
// is refused, as is every absolute or escaping name.
func checkLayerEntry(hdr *tar.Header) (layerEntry, error) {
	kind := entryKindOf(hdr.Typeflag)
	if kind == 0 {
		return layerEntry{}, invalidEntry(hdr.Name, "has unsupported type %q", hdr.Typeflag)
	}
	if kind == kindSkip {
		return layerEntry{skip: true}, nil
	}
	name, err := cleanName(hdr.Name, hdr.Name)
	if err != nil {
		return layerEntry{}, err
	}
	if name == "." {
		return layerEntry{kind: kind}, nil
	}
	if err := checkLengths(hdr, name); err != nil {
		return layerEntry{}, err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case base == whiteoutOpaque:
		return layerEntry{rel: dir, opaque: true}, nil
	case strings.HasPrefix(base, whiteoutMeta):
		return layerEntry{skip: true}, nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return layerEntry{}, invalidEntry(hdr.Name, "is a whiteout of %q, which is not a name in its folder", target)
		}
		return layerEntry{rel: path.Join(dir, target), whiteout: true}, nil
	}
	if kind == kindHardlink {
		if _, err := cleanName(hdr.Name, hdr.Linkname); err != nil {
			return layerEntry{}, err
		}
	}
	return layerEntry{rel: name, kind: kind}, nil
}

// searchPath is the PATH of an environment, or Docker's default.
func searchPath(env []string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			return v
		}
	}
	return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// checkLayered checks the digests of a layered image's record, since blob
// paths are built from them.
func (r record) checkLayered() error {
	if !r.layered() {
		return nil
	}
	if err := checkDigest256("config", r.Config); err != nil {
		return err
	}
	for _, d := range r.Layers {
		if err := checkDigest256("layer", d); err != nil {
			return err
		}
	}
	return checkSigner(r.Signer)
}

// checkSigner refuses a signer that is not "" or a key fingerprint, 40 or
// 64 lower-case hex digits.
func checkSigner(fp string) error {
	if fp != "" && ((len(fp) != 40 && len(fp) != 64) || !isLowerHex(fp)) {
		return fmt.Errorf("signer %q is not a key fingerprint", fp)
	}
	return nil
}

// gcLayerBlobs removes the blobs of blobs/sha256 that none of kept names:
// layers and configs of removed images, or of an import cut short. The
// caller holds the store lock exclusive, so no import is under way.
func (s *Store) gcLayerBlobs(kept []record) error {
	names, err := readDirNames(s.blob256Dir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, r := range kept {
		if !r.layered() {
			continue
		}
		used[strings.TrimPrefix(r.Config, "sha256:")] = true
		for _, l := range r.Layers {
			used[strings.TrimPrefix(l, "sha256:")] = true
		}
	}
	var errs []error
	for _, n := range names {
		if used[n] {
			continue
		}
		if err := os.Remove(filepath.Join(s.blob256Dir(), n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing blob: %w", err))
		}
	}
	if len(errs) == 0 && len(names) > 0 {
		return fsutil.SyncDir(s.blob256Dir())
	}
	return errors.Join(errs...)
}

// TempDir makes a folder in the store's tmp/, for podctl-fetch to unpack
// an archive in while it holds the store lock (LockShared): what a crash
// leaves there is cleaned as the rest of tmp/.
func (s *Store) TempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp(s.tmpDir(), pattern)
	if err != nil {
		return "", fmt.Errorf("creating a folder in the store: %w", err)
	}
	return d, nil
}

// Limits returns the limits the Store applies (SetLimits), defaults filled.
func (s *Store) Limits() Limits { return s.currentLimits() }

// dockerName is the short form of a Docker Hub name: busybox for
// docker.io/library/busybox and index.docker.io/library/busybox,
// user/app for docker.io/user/app.
func dockerName(n string) string {
	for _, p := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if rest, ok := strings.CutPrefix(n, p); ok {
			return rest
		}
	}
	return n
}

// ImageConfigJSON returns the config of layered image id as stored (its
// digest checked again), and nil for an ACI, which has none.
func (s *Store) ImageConfigJSON(id string) ([]byte, error) {
	rec, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	if !rec.layered() {
		return nil, nil
	}
	if err := checkDigest256("config", rec.Config); err != nil {
		return nil, err
	}
	f, err := os.Open(s.blob256Path(rec.Config))
	if err != nil {
		return nil, fmt.Errorf("reading the config of image %s: %w", id, err)
	}
	defer f.Close()
	// A config is small; the bound keeps a damaged store from costing much.
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the config of image %s: %w", id, err)
	}
	if d := sha256Digest(b); len(b) > maxConfigBytes || d != rec.Config {
		return nil, fmt.Errorf("the config of image %s is not the one stored (%s): it was damaged; remove the image and import it again", id, rec.Config)
	}
	return b, nil
}

// maxConfigBytes bounds an image config read back from the store.
const maxConfigBytes = 4 << 20
