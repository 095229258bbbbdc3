package stage0

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"podctl/internal/errdefs"
	"podctl/internal/match"
	"podctl/lifecycle"
	"podctl/store"
)

// resolveIn resolves an image reference in an opened store; an image that
// is not there is a not-found error naming the reference.
func resolveIn(st *store.Store, ref string) (string, error) {
	id, err := st.Resolve(ref)
	if errors.Is(err, store.ErrNotFound) {
		return "", noImage(ref)
	}
	return id, err
}

// withImage opens the store to read, resolves ref and calls fn with the
// image's ID. A data directory without a store has no image.
func withImage(c Config, ref string, fn func(st *store.Store, id string) error) error {
	st, err := c.openStoreToRead()
	if err != nil {
		return err
	}
	if st == nil {
		return noImage(ref)
	}
	defer st.Close()
	id, err := resolveIn(st, ref)
	if err != nil {
		return err
	}
	return fn(st, id)
}

// ExportImage writes image ref to file, an ACI or an OCI archive (see
// store.Export), with its progress on stderr unless c.Quiet.
func ExportImage(c Config, ref, file string, overwrite bool) error {
	return withImage(c, ref, func(st *store.Store, id string) error {
		st.SetProgress(c.progress())
		return st.Export(id, file, overwrite)
	})
}

// ExtractImage writes the files of image ref into dir: with render, the
// root filesystem pods see (store.Render), else the image's own files
// (store.Extract).
func ExtractImage(c Config, ref, dir string, rootfsOnly, render bool) error {
	return withImage(c, ref, func(st *store.Store, id string) error {
		if render {
			return st.Render(id, dir, rootfsOnly)
		}
		return st.Extract(id, dir, rootfsOnly)
	})
}

// ImageInspection is what image inspect prints.
type ImageInspection struct {
	Image store.Image `json:"image"`
	// Format is the image's format: "aci" for every image stored today.
	Format string `json:"format"`
	// Manifest is the image manifest, as stored.
	Manifest json.RawMessage `json:"manifest"`
	// Config is an OCI image's configuration; null for an ACI.
	Config json.RawMessage `json:"config"`
	// Verified says how an OCI or Docker image was checked when it was
	// last imported; nil for an ACI.
	Verified *Verification `json:"verified,omitempty"`
}

// Verification is how an OCI or Docker image was checked: By is
// "signature" (Signer's key made it), "digest" (pinned to Digest) or
// "none" (--insecure-options=image).
type Verification struct {
	By     string `json:"by"`
	Signer string `json:"signer,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// verificationOf is how img was checked; nil for an ACI.
func verificationOf(img store.Image) *Verification {
	switch {
	case img.Format == store.FormatACI:
		return nil
	case img.Signer != "":
		return &Verification{By: "signature", Signer: img.Signer, Digest: img.Digest}
	case img.Pinned:
		return &Verification{By: "digest", Digest: img.Digest}
	}
	return &Verification{By: "none"}
}

// InspectImage returns the record and manifest of image ref.
func InspectImage(c Config, ref string) (*ImageInspection, error) {
	var out *ImageInspection
	err := withImage(c, ref, func(st *store.Store, id string) error {
		img, err := st.Image(id)
		if err != nil {
			return err
		}
		_, raw, err := st.Manifest(id)
		if err != nil {
			return err
		}
		if !json.Valid(raw) {
			return fmt.Errorf("the stored manifest of %s is not JSON", id)
		}
		cfg, err := st.ImageConfigJSON(id)
		if err != nil {
			return err
		}
		out = &ImageInspection{Image: img, Format: img.Format, Manifest: raw, Config: json.RawMessage("null"), Verified: verificationOf(img)}
		if cfg != nil && json.Valid(cfg) {
			out.Config = cfg
		}
		return nil
	})
	return out, err
}

// TagImage gives image ref another name, tag (NAME or NAME:VERSION). The
// store stays locked shared meanwhile, so the image cannot be removed
// between its resolution and its tagging.
func TagImage(c Config, ref, tag string) (string, error) {
	if _, _, err := store.ParseTag(tag); err != nil {
		return "", errdefs.New(ErrUsage, "%v", err)
	}
	st, err := c.OpenStore()
	if err != nil {
		return "", err
	}
	defer st.Close()
	unlock, err := st.LockShared()
	if err != nil {
		return "", err
	}
	defer unlock()
	id, err := resolveIn(st, ref)
	if err != nil {
		return "", err
	}
	return id, st.Tag(id, tag)
}

// RemovedImage is one result of image rm: an image removed, or a tag.
type RemovedImage struct {
	ID string
	// Untagged is the tag removed, when the argument was a tag; the
	// image stays then.
	Untagged string
}

// RemoveImages removes images from the store, or tags. An argument that
// is exactly a tag (NAME or NAME:VERSION, as image tag gave it) removes
// that tag only, as docker rmi does for a name the image has besides; any
// other argument names an image to remove, with its tags. An image that a
// preparing, prepared or running pod uses is refused unless force is set;
// then, as for an image only exited pods use, its tree stays until image gc
// finds it unused, so the pods can still run.
func RemoveImages(c Config, refs []string, force bool) ([]RemovedImage, error) {
	var removed []RemovedImage
	err := withStoreExclusive(c, func(st *store.Store, inUse map[string]bool) error {
		var users map[string][]string
		for _, ref := range refs {
			if tag, err := st.IsTag(ref); err != nil {
				return err
			} else if tag {
				id, err := st.Untag(ref)
				if err != nil {
					return err
				}
				removed = append(removed, RemovedImage{ID: id, Untagged: ref})
				continue
			}
			id, err := resolveIn(st, ref)
			if err != nil {
				return err
			}
			if !force {
				if users == nil {
					if users, err = ActivePodsByImage(c); err != nil {
						return err
					}
				}
				if pods := users[id]; len(pods) > 0 {
					return errdefs.New(errdefs.ErrBusy, "image %s is used by pod(s) %s: remove them first, or pass --force (they keep its tree and can still run)", id, strings.Join(pods, ", "))
				}
			}
			if err := st.Remove(id, inUse[id]); err != nil {
				return fmt.Errorf("removing image %s: %w", id, err)
			}
			removed = append(removed, RemovedImage{ID: id})
		}
		return nil
	})
	return removed, err
}

// activeStates are the states in which a pod is about to run or runs, and
// so holds its images against image rm.
var activeStates = map[lifecycle.State]bool{lifecycle.Preparing: true, lifecycle.Prepared: true, lifecycle.Running: true}

// ActivePodsByImage maps each image ID to the preparing, prepared and
// running pods whose manifests name it, read through the pod listing: each
// "UUID (STATE)", sorted.
func ActivePodsByImage(c Config) (map[string][]string, error) {
	pods, err := List(c)
	if err != nil {
		return nil, err
	}
	return activePodsByImage(pods), nil
}

func activePodsByImage(pods []*PodInfo) map[string][]string {
	out := map[string][]string{}
	for _, pi := range pods {
		if !activeStates[pi.State.Lifecycle] {
			continue
		}
		seen := map[string]bool{}
		for _, a := range pi.Apps {
			if a.ImageID != "" && !seen[a.ImageID] {
				seen[a.ImageID] = true
				out[a.ImageID] = append(out[a.ImageID], fmt.Sprintf("%s (%s)", pi.UUID, pi.State))
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// ImageFilter selects images for image list, by the rules of PodFilter:
// several values of one key select what any selects, label values must all
// match, and an image must match every key given. A nil filter matches
// every image.
type ImageFilter struct {
	names []string
	common
}

// ImageFilterKeys are the keys of image list --filter.
var ImageFilterKeys = []string{"name", "label", "before", "since"}

// ParseImageFilter reads image list --filter values, each one or more
// KEY=VALUE separated by commas:
//
//	name=PATTERN        the image's name, name:version or a tag matches
//	                    PATTERN (*, ?, [...])
//	label=KEY[=VALUE]   the image has label KEY (with that value)
//	before=IMAGE|TIME   imported before the image (ID, prefix, name) or time
//	since=IMAGE|TIME    imported after it
//
// TIME is read as list --filter reads it.
func ParseImageFilter(c Config, specs []string) (*ImageFilter, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	f := &ImageFilter{}
	now := time.Now()
	if err := eachFilter(specs, ImageFilterKeys, func(k, v string) error { return f.add(c, k, v, now) }); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *ImageFilter) add(c Config, k, v string, now time.Time) error {
	switch k {
	case "name":
		if _, err := path.Match(v, ""); err != nil || v == "" {
			return errdefs.New(ErrUsage, "filter name=%s: give a name or a pattern (*, ? and [...])", v)
		}
		f.names = append(f.names, v)
	case "label":
		if key, _, _ := strings.Cut(v, "="); key == "" {
			return errdefs.New(ErrUsage, "filter label=%s: give label=KEY or label=KEY=VALUE", v)
		}
		f.addLabel(v)
	case "before", "since":
		t, err := imageFilterTime(c, k, v, now)
		if err != nil {
			return err
		}
		f.addTime(k, t)
	default:
		return errdefs.New(ErrUsage, "unknown filter %q: the keys are %s", k, strings.Join(ImageFilterKeys, ", "))
	}
	return nil
}

// imageFilterTime reads the value of before= or since=: a time, or an
// image whose import time it means.
func imageFilterTime(c Config, k, v string, now time.Time) (time.Time, error) {
	if t, err := parseFilterTime(v, now); err == nil {
		return t, nil
	}
	var t time.Time
	err := withImage(c, v, func(st *store.Store, id string) error {
		img, err := st.Image(id)
		t = img.ImportTime
		return err
	})
	if errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrAmbiguous) {
		return time.Time{}, errdefs.New(ErrUsage, "filter %s=%s is neither a time (2024-05-01, 2024-05-01T10:00:00Z, 90m for 90 minutes ago) nor an image: %v", k, v, err)
	}
	return t, err
}

// Match reports whether the filter selects the image.
func (f *ImageFilter) Match(img *store.Image) bool {
	if f == nil {
		return true
	}
	names := append([]string{img.Name}, img.Tags...)
	if v := img.Labels["version"]; v != "" {
		names = append(names, img.Name+":"+v)
	}
	return match.Any(f.names, func(pattern string) bool {
		for _, n := range names {
			if ok, _ := path.Match(pattern, n); ok {
				return true
			}
		}
		return false
	}) && f.common.matches(img.Labels, &img.ImportTime)
}

// ListImagesMatching returns the images ListImages returns that the
// filter selects.
func ListImagesMatching(c Config, f *ImageFilter) ([]store.Image, error) {
	imgs, err := ListImages(c)
	if err != nil || f == nil {
		return imgs, err
	}
	out := []store.Image{}
	for i := range imgs {
		if f.Match(&imgs[i]) {
			out = append(out, imgs[i])
		}
	}
	return out, nil
}
