package store

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/appc/spec/schema"

	"podctl/internal/manifest"
)

// maxManifestSize bounds the manifest read into memory; real ones are a few
// kilobytes.
const maxManifestSize = 4 << 20

// entryKind is what an archive entry becomes in the tree.
type entryKind int

const (
	kindDir entryKind = iota + 1
	kindFile
	kindSymlink
	kindHardlink
	kindFifo
	kindDevice // accepted in archives, skipped when rendering
	kindSkip   // tar metadata with no file of its own
)

// entryKindOf maps a tar type to what it becomes, or returns 0 for types an
// image may not hold.
func entryKindOf(typeflag byte) entryKind {
	switch typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		return kindFile
	case tar.TypeDir:
		return kindDir
	case tar.TypeSymlink:
		return kindSymlink
	case tar.TypeLink:
		return kindHardlink
	case tar.TypeFifo:
		return kindFifo
	case tar.TypeChar, tar.TypeBlock:
		return kindDevice
	case tar.TypeXGlobalHeader:
		return kindSkip
	}
	return 0
}

// invalidEntry returns an error wrapping ErrInvalid that names the entry.
func invalidEntry(name, format string, args ...any) error {
	return fmt.Errorf("%w: entry %q %s", ErrInvalid, name, fmt.Sprintf(format, args...))
}

// cleanName checks a path found in an archive (an entry name or a hard link
// target) and returns it cleaned: relative, without "." or ".." components.
// ".." is refused wherever it appears, even where it would stay inside the
// archive, because no image needs it and a clean-up could hide an escape.
func cleanName(entry, p string) (string, error) {
	what := "has"
	if entry != p {
		what = fmt.Sprintf("links to %q, which has", p)
	}
	switch {
	case p == "":
		return "", invalidEntry(entry, "has an empty path")
	case strings.IndexByte(p, 0) >= 0:
		return "", invalidEntry(entry, "%s a NUL byte in its path", what)
	case path.IsAbs(p):
		return "", invalidEntry(entry, "%s an absolute path", what)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", invalidEntry(entry, "%s a \"..\" component", what)
		}
	}
	return path.Clean(p), nil
}

// rootfsRel returns the path of a cleaned archive path relative to rootfs/
// ("" for rootfs itself) and whether it is inside rootfs at all.
func rootfsRel(p string) (string, bool) {
	if p == aciRootfs {
		return "", true
	}
	rel, ok := strings.CutPrefix(p, aciRootfs+"/")
	return rel, ok
}

// validator checks an ACI's entries one by one as the archive streams past,
// keeping what the tree would hold so far. Its checks are on names only; the
// extractor enforces the same rules again with the kernel's help.
type validator struct {
	seen     map[string]entryKind // cleaned paths in rootfs, explicit or implied
	manifest []byte
	haveMan  bool
	// devices are the device nodes met, which are never extracted.
	devices []string
}

// The kernel's limits on names: a path component (NAME_MAX) and a whole
// path with its final NUL (PATH_MAX). An image past them is stored but
// fails every run.
const (
	maxNameLen = 255
	maxPathLen = 4096 - 1
)

// checkLengths refuses an entry whose path in the image, or whose link
// target, the kernel could not take.
func checkLengths(hdr *tar.Header, rel string) error {
	if n := len(rel) + 1; n > maxPathLen {
		return invalidEntry(truncName(hdr.Name), "has a path of %d bytes, more than the kernel's %d: shorten it", n, maxPathLen)
	}
	for _, c := range strings.Split(rel, "/") {
		if len(c) > maxNameLen {
			return invalidEntry(truncName(hdr.Name), "has a name of %d bytes, more than the kernel's %d: shorten it", len(c), maxNameLen)
		}
	}
	if n := len(hdr.Linkname); n > maxPathLen {
		return invalidEntry(truncName(hdr.Name), "links to a path of %d bytes, more than the kernel's %d: shorten it", n, maxPathLen)
	}
	return nil
}

// truncName shortens a long entry name for a one-line message.
func truncName(name string) string {
	if len(name) <= 80 {
		return name
	}
	return name[:77] + "..."
}

func newValidator() *validator {
	return &validator{seen: make(map[string]entryKind)}
}

// check validates one header and returns its cleaned name ("" for tar
// metadata).
func (v *validator) check(hdr *tar.Header) (string, error) {
	kind := entryKindOf(hdr.Typeflag)
	if kind == kindSkip {
		return "", nil
	}
	name, err := cleanName(hdr.Name, hdr.Name)
	if err != nil {
		return "", err
	}
	if kind == 0 {
		return "", invalidEntry(hdr.Name, "has unsupported type %q", hdr.Typeflag)
	}
	if name == "." {
		if kind != kindDir {
			return "", invalidEntry(hdr.Name, "names the archive's root but is not a directory")
		}
		return name, nil
	}
	if name == aciManifest {
		if kind != kindFile {
			return "", invalidEntry(hdr.Name, "is the manifest but not a regular file")
		}
		if v.haveMan {
			return "", invalidEntry(hdr.Name, "appears twice")
		}
		if hdr.Size > maxManifestSize {
			return "", invalidEntry(hdr.Name, "is a manifest of %d bytes, more than the %d allowed", hdr.Size, maxManifestSize)
		}
		v.haveMan = true
		return name, nil
	}
	rel, ok := rootfsRel(name)
	if !ok {
		return "", invalidEntry(hdr.Name, "is neither the manifest nor under rootfs/")
	}
	if rel == "" && kind != kindDir {
		return "", invalidEntry(hdr.Name, "is rootfs but not a directory")
	}
	if err := checkLengths(hdr, rel); err != nil {
		return "", err
	}
	if err := v.checkParents(hdr.Name, name, true); err != nil {
		return "", err
	}
	if old, ok := v.seen[name]; ok && (old != kindDir || kind != kindDir) {
		return "", invalidEntry(hdr.Name, "appears twice or replaces an earlier entry")
	}
	if kind == kindHardlink {
		if err := v.checkHardlink(hdr, name); err != nil {
			return "", err
		}
	}
	if kind == kindDevice {
		v.devices = append(v.devices, "/"+rel)
	}
	v.seen[name] = kind
	return name, nil
}

// checkParents refuses a path one of whose parents is a symlink or anything
// else that is not a directory, so that nothing is ever written through a
// symlink. With imply set, missing parents are recorded as directories, as
// the extractor creates them.
func (v *validator) checkParents(entry, name string, imply bool) error {
	for i := strings.IndexByte(name, '/'); i >= 0; i = next(name, i) {
		p := name[:i]
		switch k, ok := v.seen[p]; {
		case !ok && imply:
			v.seen[p] = kindDir
		case !ok:
		case k == kindSymlink:
			return invalidEntry(entry, "goes through the symlink %q", p)
		case k != kindDir:
			return invalidEntry(entry, "goes through %q, which is not a directory", p)
		}
	}
	return nil
}

// next returns the index of the next '/' in s after i, or -1.
func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// checkHardlink refuses hard links whose target is outside rootfs, reached
// through a symlink, or not an earlier entry that a link can point at.
func (v *validator) checkHardlink(hdr *tar.Header, name string) error {
	target, err := cleanName(hdr.Name, hdr.Linkname)
	if err != nil {
		return err
	}
	if rel, ok := rootfsRel(target); !ok || rel == "" {
		return invalidEntry(hdr.Name, "is a hard link to %q, outside rootfs/", hdr.Linkname)
	}
	if target == name {
		return invalidEntry(hdr.Name, "is a hard link to itself")
	}
	if err := v.checkParents(hdr.Name, target, false); err != nil {
		return err
	}
	switch v.seen[target] {
	case kindFile, kindHardlink, kindSymlink, kindFifo:
		return nil
	}
	return invalidEntry(hdr.Name, "is a hard link to %q, which is not an earlier file of the archive", hdr.Linkname)
}

// finish checks the archive as a whole once every entry was seen and
// returns its manifest.
func (v *validator) finish() (*schema.ImageManifest, error) {
	if !v.haveMan {
		return nil, fmt.Errorf("%w: the archive has no manifest", ErrInvalid)
	}
	if _, ok := v.seen[aciRootfs]; !ok {
		return nil, fmt.Errorf("%w: the archive has no rootfs/", ErrInvalid)
	}
	im, err := parseManifest(v.manifest)
	if err != nil {
		return nil, err
	}
	// Checked at import only, so that images stored before still read.
	if im.App != nil && len(im.App.Exec) > 0 && !path.IsAbs(im.App.Exec[0]) {
		return nil, fmt.Errorf("%w: manifest: app.exec starts with %q, not an absolute path as appc requires: write its full path, such as /bin/%s", ErrInvalid, im.App.Exec[0], path.Base(im.App.Exec[0]))
	}
	return im, nil
}

// parseManifest parses and validates an image manifest with appc's schema
// (through internal/manifest, which refuses first what would crash appc's
// code) and refuses what the store cannot render yet.
func parseManifest(data []byte) (*schema.ImageManifest, error) {
	im, err := manifest.ParseImage(data)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrInvalid, err)
	}
	if im.ACVersion.LessThanMajor(schema.AppContainerVersion) {
		return nil, fmt.Errorf("%w: manifest: acVersion %s is older than %s", ErrInvalid, im.ACVersion, schema.AppContainerVersion)
	}
	if len(im.Dependencies) > 0 {
		return nil, fmt.Errorf("image %s depends on %d other image(s): %w (image dependencies)", im.Name, len(im.Dependencies), errors.ErrUnsupported)
	}
	if len(im.PathWhitelist) > 0 {
		return nil, fmt.Errorf("image %s has a pathWhitelist: %w (path whitelists)", im.Name, errors.ErrUnsupported)
	}
	return im, nil
}
