package store

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// exportOCIArchive writes layered image id (its record rec) to path as an
// OCI archive: oci-layout, index.json naming its manifest (tagged with its
// name and version, which fetch gives it back), and its manifest, config
// and layers under blobs/sha256/, each checked against its digest as it
// is copied. fetch oci-archive:path gives the same image ID back.
func (s *Store) exportOCIArchive(id string, rec record, path string, overwrite bool) error {
	manifest, err := os.ReadFile(s.blobPath(rec.Digest))
	if err != nil {
		return fmt.Errorf("reading the manifest of image %s: %w", id, err)
	}
	if sha256Digest(manifest) != rec.ManifestDigest {
		return fmt.Errorf("the manifest of image %s is not the one stored: it was damaged; remove the image and import it again", id)
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil || m.MediaType == "" {
		m.MediaType = "application/vnd.oci.image.manifest.v1+json"
	}
	ref := rec.Name
	if v := rec.Labels["version"]; v != "" {
		ref += ":" + v
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []map[string]any{{
			"mediaType":   m.MediaType,
			"digest":      rec.ManifestDigest,
			"size":        len(manifest),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": ref},
		}},
	})
	if err != nil {
		return err
	}
	return writeExport(path, overwrite, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		mtime := time.Unix(0, 0)
		file := func(name string, b []byte) error {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			_, err := tw.Write(b)
			return err
		}
		if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
			return err
		}
		if err := file("index.json", index); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
		if err := file(blobName(rec.ManifestDigest), manifest); err != nil {
			return err
		}
		for _, d := range append([]string{rec.Config}, rec.Layers...) {
			if err := s.copyBlob256(tw, d, mtime); err != nil {
				return err
			}
		}
		return tw.Close()
	})
}

// blobName is a sha256 blob's name in an OCI layout.
func blobName(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

// copyBlob256 writes the stored sha256 blob digest into tw, checking it
// against its digest on the way.
func (s *Store) copyBlob256(tw *tar.Writer, digest string, mtime time.Time) error {
	if err := checkDigest256("blob", digest); err != nil {
		return err
	}
	f, err := os.Open(s.blob256Path(digest))
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", digest, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: blobName(digest), Mode: 0o644, Size: fi.Size(), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	h := sha256.New()
	// Named as a pull names its layers: 12 hex digits of the digest.
	it := s.reporter().Start(strings.TrimPrefix(digest, "sha256:")[:12], fi.Size())
	_, err = io.Copy(io.MultiWriter(tw, h), it.Reader(f))
	it.Done(err)
	if err != nil {
		return fmt.Errorf("copying blob %s: %w", digest, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("the stored blob %s does not match its digest: it was damaged; remove the image and import it again", digest)
	}
	return nil
}
