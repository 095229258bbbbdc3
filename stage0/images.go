package stage0

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"podctl/internal/errdefs"
	"podctl/internal/progress"
	"podctl/lifecycle"
	"podctl/store"
)

// Fetch imports image files, and OCI and Docker images (IsLayeredRef),
// into the store, each within lim (zero fields mean the defaults).
func Fetch(c Config, paths []string, insecure bool, lim store.Limits) ([]store.Image, error) {
	st, err := c.OpenStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetLimits(lim)
	var out []store.Image
	for _, path := range paths {
		if IsLayeredRef(path) {
			img, err := FetchLayered(c, st, path, insecure)
			if err != nil {
				return out, err
			}
			out = append(out, img)
			continue
		}
		fetch := func() (store.Image, error) { return FetchFile(c, st, path, insecure, c.progress()) }
		if IsRemoteRef(path) || IsDiscoverable(path) {
			fetch = func() (store.Image, error) { return FetchRemote(c, st, path, insecure) }
		}
		img, err := fetch()
		if err != nil {
			return out, err
		}
		out = append(out, img)
	}
	return out, nil
}

// progress is where fetch and export report how far they have come: a
// bar on a terminal, a line when done elsewhere, nothing if c.Quiet.
func (c Config) progress() *progress.Reporter {
	return progress.New(os.Stderr, c.Quiet)
}

// ImportRootfs makes an image of a root filesystem, a folder or a tarball,
// within lim (see store.ImportRootfs).
func ImportRootfs(c Config, src, name string, exec []string, labels map[string]string, lim store.Limits) (store.Image, error) {
	st, err := c.OpenStore()
	if err != nil {
		return store.Image{}, err
	}
	defer st.Close()
	st.SetLimits(lim)
	return st.ImportRootfs(src, name, exec, labels)
}

// imagesInUse lists the images named by pods not yet removed, and the
// trees their apps' lower links point to, which a pod whose manifest cannot
// be read still mounts. The caller holds the store's exclusive lock, so no
// pod being prepared can add one.
func imagesInUse(c Config) (map[string]bool, error) {
	inUse := map[string]bool{}
	var unknown error
	err := lifecycle.WalkPods(c.DataDir, lifecycle.IncludeAllDirs, func(p *lifecycle.Pod) {
		if err := p.CheckLayout(); err != nil {
			// Which images it uses is written where this podctl
			// cannot tell: no image may be removed.
			if unknown == nil {
				unknown = fmt.Errorf("%w; the images it uses are unknown, so none is removed", err)
			}
			return
		}
		links, _ := filepath.Glob(p.FilePath(lifecycle.AppFile("*", lifecycle.AppLower)))
		for _, l := range links {
			// The link is trees/<id>/rootfs in the store.
			if target, err := os.Readlink(l); err == nil {
				inUse[filepath.Base(filepath.Dir(target))] = true
			}
		}
		_, m, err := p.PodManifest()
		if err != nil {
			return
		}
		for _, ra := range m.Apps {
			inUse[ra.Image.ID.String()] = true
		}
	})
	if err == nil {
		err = unknown
	}
	return inUse, err
}

// withStoreExclusive runs fn with the store locked exclusively and the set
// of images pods still use, which no pod being prepared can change then.
func withStoreExclusive(c Config, fn func(st *store.Store, inUse map[string]bool) error) error {
	st, err := c.OpenStore()
	if err != nil {
		return err
	}
	defer st.Close()
	unlock, err := st.LockExclusive()
	if err != nil {
		return err
	}
	defer unlock()
	inUse, err := imagesInUse(c)
	if err != nil {
		return err
	}
	return fn(st, inUse)
}

// ImageGC removes rendered trees no pod uses any more and images unused
// for longer than grace.
func ImageGC(c Config, grace time.Duration) ([]string, error) {
	var removed []string
	err := withStoreExclusive(c, func(st *store.Store, inUse map[string]bool) error {
		var err error
		removed, err = st.GC(inUse, grace, time.Now())
		return err
	})
	return removed, err
}

// openStoreToRead opens the store for a read command: a data directory
// with no store yet has no images, and is left as it is.
func (c Config) openStoreToRead() (*store.Store, error) {
	if _, err := os.Stat(c.ImagesDir()); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("data directory %s cannot be read (%v): run podctl as root", c.DataDir, err)
		}
		return nil, err
	}
	return c.OpenStore()
}

// ListImages lists the images in the store.
func ListImages(c Config) ([]store.Image, error) {
	st, err := c.openStoreToRead()
	if err != nil || st == nil {
		return []store.Image{}, err
	}
	defer st.Close()
	imgs, err := st.List()
	if imgs == nil {
		imgs = []store.Image{}
	}
	return imgs, err
}

// ImageManifest returns the manifest of an image, as stored.
func ImageManifest(c Config, ref string) ([]byte, error) {
	st, err := c.openStoreToRead()
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, noImage(ref)
	}
	defer st.Close()
	id, err := st.Resolve(ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noImage(ref)
	}
	if err != nil {
		return nil, err
	}
	_, b, err := st.Manifest(id)
	return b, err
}

func noImage(ref string) error {
	return errdefs.New(errdefs.ErrNotFound, "no image %q in the store: see podctl image list, or import it with podctl fetch", ref)
}
