package main

// The keystore: the OpenPGP public keys podctl trusts to sign images, in
// the data directory's trust folder (datadir.Trust), laid out as rkt's:
//
//	trust/root.d/<fingerprint>                  trusted for every image
//	trust/prefix.d/<escaped prefix>/<fingerprint>  trusted for the images
//	                                            named <prefix> or <prefix>/...
//
// A fingerprint is lower-case hex (40 digits for a v4 key, 64 for v6); a
// file holds that one armored public key, written crash-safely. A prefix is
// an appc image name (an AC identifier) with each "/" written as ",", which
// an AC identifier never holds. Entries of any other name are ignored.
// Only podctl-fetch reads and writes the keystore: it parses OpenPGP.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/appc/spec/schema/types"

	"podctl/datadir"
	"podctl/internal/fsutil"
)

const (
	rootDir   = "root.d"
	prefixDir = "prefix.d"
)

// keystore is the trust folder of a data directory.
type keystore struct{ dir string }

func openKeystore(dataDir string) keystore {
	return keystore{dir: datadir.TrustDir(dataDir)}
}

// trustEntry is one trusted key file: a key and what it is trusted for.
type trustEntry struct {
	Prefix      string // "" for a root key
	Fingerprint string // lower-case hex
	Path        string
}

// escapePrefix names a prefix's folder.
func escapePrefix(prefix string) string { return strings.ReplaceAll(prefix, "/", ",") }

// unescapePrefix reads a prefix folder's name back; ok is false for a name
// escapePrefix does not make.
func unescapePrefix(name string) (string, bool) {
	prefix := strings.ReplaceAll(name, ",", "/")
	if err := checkPrefix(prefix); err != nil {
		return "", false
	}
	return prefix, true
}

// checkPrefix refuses what is not an image name: an AC identifier by
// appc's regular expression, which, stricter than NewACIdentifier, has no
// empty or dot-led path component. The first component may end in :PORT,
// as a registry's repositories do (127.0.0.1:5000/busybox).
func checkPrefix(prefix string) error {
	name := prefix
	if strings.Contains(prefix, ":") {
		host, rest, slash := strings.Cut(prefix, "/")
		h, port, _ := strings.Cut(host, ":")
		if !validPort(port) {
			return fmt.Errorf("prefix %q is not an image name (a colon only before the port of a registry host, as 127.0.0.1:5000/app)", prefix)
		}
		name = h
		if slash {
			name += "/" + rest
		}
	}
	if !types.ValidACIdentifier.MatchString(name) {
		return fmt.Errorf("prefix %q is not an image name (lower-case letters, digits and -._~ between slashes, as example.com/app)", prefix)
	}
	return nil
}

// validPort is 1 to 5 digits, not 0-led.
func validPort(s string) bool {
	if len(s) == 0 || len(s) > 5 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseFingerprint reads a fingerprint as users write it (any case,
// spaces allowed) or as a key file's name; ok is false for anything but 40
// or 64 hex digits.
func parseFingerprint(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(s, " ", ""))
	if len(s) != 40 && len(s) != 64 {
		return "", false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return s, true
}

// prefixCovers says whether a key trusted for prefix applies to the image
// name: the same name, or a name under it at a path-component boundary.
func prefixCovers(prefix, name string) bool {
	return name == prefix || strings.HasPrefix(name, prefix+"/")
}

// folder is where a key trusted for prefix ("" for root) lives.
func (k keystore) folder(prefix string) string {
	if prefix == "" {
		return filepath.Join(k.dir, rootDir)
	}
	return filepath.Join(k.dir, prefixDir, escapePrefix(prefix))
}

// entries lists every key file, root keys first, then by prefix and
// fingerprint. A keystore not made yet is empty.
func (k keystore) entries() ([]trustEntry, error) {
	var out []trustEntry
	add := func(prefix, dir string) error {
		names, err := readNames(dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			if fp, ok := parseFingerprint(n); ok && fp == n {
				out = append(out, trustEntry{Prefix: prefix, Fingerprint: fp, Path: filepath.Join(dir, n)})
			}
		}
		return nil
	}
	if err := add("", k.folder("")); err != nil {
		return nil, err
	}
	dirs, err := readNames(filepath.Join(k.dir, prefixDir))
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		prefix, ok := unescapePrefix(d)
		if !ok || escapePrefix(prefix) != d {
			continue
		}
		if err := add(prefix, filepath.Join(k.dir, prefixDir, d)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readNames lists a folder's entries, sorted; a missing folder has none.
func readNames(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the keystore: %w", err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names, nil
}

// store writes an armored key as trusted for prefix ("" for root). Writing
// a key already there again replaces it with the same content.
func (k keystore) store(prefix, fingerprint string, armored []byte) (string, error) {
	dir := k.folder(prefix)
	if err := mkdirSynced(dir); err != nil {
		return "", err
	}
	p := filepath.Join(dir, fingerprint)
	if err := fsutil.WriteFile(p, armored, 0o644, true); err != nil {
		return "", fmt.Errorf("storing key: %w", err)
	}
	return p, nil
}

// remove takes a key file out; a prefix folder left empty goes too.
func (k keystore) remove(e trustEntry) error {
	if err := os.Remove(e.Path); err != nil {
		return fmt.Errorf("removing key: %w", err)
	}
	dir := filepath.Dir(e.Path)
	if err := fsutil.SyncDir(dir); err != nil {
		return err
	}
	if e.Prefix != "" {
		// Fails, as it should, if another key is still there.
		if os.Remove(dir) == nil {
			return fsutil.SyncDir(filepath.Dir(dir))
		}
	}
	return nil
}

// mkdirSynced makes dir and its missing parents, fsyncing the folder each
// is made in, so that a key stored survives a power cut with its folders.
func mkdirSynced(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("making the keystore: %w", err)
	}
	return fsutil.SyncDir(parent)
}
