package stage0

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"podctl/internal/errdefs"
	"podctl/internal/fetchhelper"
	"podctl/store"
)

// layeredTransports are the prefixes of the references to OCI and Docker
// images, which podctl-fetch reads (go-containerregistry is not linked
// into podctl: it would cost every pod start its initialisation).
var layeredTransports = []string{"oci:", "oci-archive:", "docker-archive:", "docker://"}

// IsLayeredRef tells whether ref names an OCI layout or archive, a docker
// save archive or a registry image: oci:DIR[:TAG], oci-archive:FILE[:TAG],
// docker-archive:FILE[:NAME:TAG] or docker://HOST/NAME[:TAG|@DIGEST].
func IsLayeredRef(ref string) bool {
	for _, t := range layeredTransports {
		if strings.HasPrefix(ref, t) {
			return true
		}
	}
	return false
}

// FetchLayered imports the OCI or Docker image ref names into the store,
// within the store's limits, through podctl-fetch, which checks that the
// image is pinned by its digest or signed by a trusted key (simple
// signing, c.Signatures overriding where signatures are looked for),
// unless insecure skips that check. A refusal is the helper's one line.
func FetchLayered(c Config, st *store.Store, ref string, insecure bool) (store.Image, error) {
	if strings.HasPrefix(ref, "docker://") && c.PullPolicy != PullUpdate {
		img, err := storedPull(st, ref, insecure)
		switch {
		case err == nil:
			return img, nil
		case c.PullPolicy == PullNever:
			return store.Image{}, errdefs.New(errdefs.ErrNotFound, "no image %s in the store that may be used without a check, and --pull-policy=never keeps podctl from pulling it", ref)
		}
	}
	lim := st.Limits()
	skip := append([]string(nil), c.InsecurePull...)
	if insecure {
		skip = append(skip, "image")
	}
	// The helper writes to podctl's own stderr: its progress (a bar per
	// layer on a terminal, a line per layer elsewhere, none with --quiet)
	// and, if it fails, the one line that says why, which is then all
	// podctl says (*fetchhelper.ExitError).
	args := []string{"--max-image-size=" + strconv.FormatInt(lim.MaxSize, 10),
		"--max-image-entries=" + strconv.FormatInt(lim.MaxEntries, 10),
		"--insecure-options=" + strings.Join(skip, ",")}
	if c.Signatures != "" {
		args = append(args, "--signatures="+c.Signatures)
	}
	if c.Quiet {
		args = append(args, "--quiet")
	}
	var stdout bytes.Buffer
	if err := fetchhelper.Run(c.DataDir, nil, &stdout, os.Stderr, "import-image", append(args, ref)...); err != nil {
		return store.Image{}, err
	}
	id := strings.TrimSpace(stdout.String())
	img, err := st.Image(id)
	if err != nil {
		return store.Image{}, fmt.Errorf("importing %s: %w", ref, err)
	}
	return img, nil
}

// throughHelper decompresses with podctl-fetch's verb (zstd-decompress,
// xz-decompress), which links the decoder that podctl does not
// (store.SetZstdReader, store.SetXzReader).
func throughHelper(dataDir, verb, format string) store.Decompressor {
	return func(r io.Reader) (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			var stderr bytes.Buffer
			err := fetchhelper.Run(dataDir, r, pw, &stderr, verb)
			if errors.As(err, new(*fetchhelper.ExitError)) {
				err = fmt.Errorf("decompressing %s: %s", format, strings.TrimPrefix(strings.TrimSpace(stderr.String()), "podctl: "))
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	}
}

// storedPull finds the image a registry reference names among those the
// store has pulled: the one pulled by that reference, or, for a digest, by
// that digest. Unless insecure, an image stored without a check
// (--insecure-options=image) does not count: one signed (store.Image
// Signer), pinned, or of the very digest asked for does.
func storedPull(st *store.Store, ref string, insecure bool) (store.Image, error) {
	imgs, err := st.List()
	if err != nil {
		return store.Image{}, err
	}
	_, digest, byDigest := strings.Cut(ref, "@")
	var found *store.Image
	for i, img := range imgs {
		sameDigest := byDigest && img.Digest == digest
		if img.Reference != ref && !sameDigest {
			continue
		}
		if !insecure && img.Signer == "" && !img.Pinned && !sameDigest {
			continue
		}
		if found == nil || img.ImportTime.After(found.ImportTime) {
			found = &imgs[i]
		}
	}
	if found == nil {
		return store.Image{}, store.ErrNotFound
	}
	return *found, nil
}
