package stage0

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"podctl/internal/fetchhelper"
	"podctl/store"
)

// Remote ACIs: an https:// (or, with --insecure-options=http, http://)
// URL, and, for fetch, an image name found by appc discovery. podctl-fetch
// downloads the image and its signature (net/http and TLS live there, not
// in podctl) into a private folder of the data directory; podctl then
// imports the file as any image file, its signature checked the same way.

// IsRemoteRef tells whether ref is the URL of an ACI.
func IsRemoteRef(ref string) bool {
	return strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://")
}

// IsDiscoverable tells whether fetch finds ref by appc discovery: an image
// name, NAME[:VERSION] with a "/" in NAME, that names no file and no path.
func IsDiscoverable(ref string) bool {
	if IsRemoteRef(ref) || IsLayeredRef(ref) || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") ||
		strings.HasSuffix(ref, ".aci") || strings.Contains(ref, "./") || !strings.Contains(ref, "/") {
		return false
	}
	_, err := os.Lstat(ref)
	return os.IsNotExist(err)
}

// FetchRemote downloads the ACI that ref (a URL or, discover, an image
// name) names and imports it into the store, its signature checked unless
// insecure.
func FetchRemote(c Config, st *store.Store, ref string, insecure bool) (store.Image, error) {
	dir, err := os.MkdirTemp(c.DataDir, ".download-")
	if err != nil {
		return store.Image{}, fmt.Errorf("fetching %s: %w", ref, err)
	}
	defer os.RemoveAll(dir)
	args := []string{"--max-image-size=" + strconv.FormatInt(st.Limits().MaxSize, 10),
		"--insecure-options=" + strings.Join(c.InsecurePull, ","), ref, dir}
	var out bytes.Buffer
	if err := fetchhelper.Run(c.DataDir, nil, &out, os.Stderr, "download-aci", args...); err != nil {
		return store.Image{}, err
	}
	path := strings.TrimSpace(out.String())
	if filepath.Dir(path) != dir {
		return store.Image{}, fmt.Errorf("fetching %s: %s printed %q, not a file of %s", ref, fetchhelper.Name, path, dir)
	}
	return FetchFile(c, st, path, insecure, c.progress())
}
