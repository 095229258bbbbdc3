package stage0

import (
	"fmt"
	"time"

	"podctl/lifecycle"
	"podctl/store"
)

// Fetch imports image files into the store.
func Fetch(c Config, paths []string, insecure bool) ([]store.Image, error) {
	st, err := c.OpenStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []store.Image
	for _, path := range paths {
		img, err := FetchFile(st, path, insecure)
		if err != nil {
			return out, err
		}
		out = append(out, img)
	}
	return out, nil
}

// imagesInUse lists the images named by pods not yet removed. The caller
// holds the store's exclusive lock, so no pod being prepared can add one.
func imagesInUse(c Config) (map[string]bool, error) {
	inUse := map[string]bool{}
	err := lifecycle.WalkPods(c.DataDir, lifecycle.IncludeAllDirs, func(p *lifecycle.Pod) {
		_, m, err := p.PodManifest()
		if err != nil {
			return
		}
		for _, ra := range m.Apps {
			inUse[ra.Image.ID.String()] = true
		}
	})
	return inUse, err
}

// RemoveImages removes images from the store. The tree of an image that a
// pod still uses stays until image gc finds it unused, so the pod can still
// run.
func RemoveImages(c Config, refs []string) ([]string, error) {
	st, err := c.OpenStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	unlock, err := st.LockExclusive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	inUse, err := imagesInUse(c)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, ref := range refs {
		id, err := st.Resolve(ref)
		if err != nil {
			return removed, err
		}
		if err := st.Remove(id, inUse[id]); err != nil {
			return removed, fmt.Errorf("removing image %s: %w", id, err)
		}
		removed = append(removed, id)
	}
	return removed, nil
}

// ImageGC removes rendered trees no pod uses any more and images unused
// for longer than grace.
func ImageGC(c Config, grace time.Duration) ([]string, error) {
	st, err := c.OpenStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	unlock, err := st.LockExclusive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	inUse, err := imagesInUse(c)
	if err != nil {
		return nil, err
	}
	return st.GC(inUse, grace, time.Now())
}
