package stage0

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/stage1"
)

// joinMountPoints gives each app a mount on each of its image's mount
// points, as appc asks: the app's own --mount on that path wins; else the
// pod's volume of the mount point's name; else an implicit empty volume
// of that name, which the pod's later apps with a mount point of the same
// name join too. stage1 copies the image's files at the path into an
// empty volume when it makes it, and mounts read-only what a readOnly
// mount point names. It runs after findTrees: an implicit volume's folder
// takes the mode and owner of the image's folder at its path.
func (pl *plan) joinMountPoints() error {
	volumes := map[types.ACName]bool{}
	for _, v := range pl.opts.Volumes {
		volumes[v.Name] = true
	}
	for i := range pl.apps {
		a := &pl.apps[i]
		for _, mp := range a.app.MountPoints {
			path := filepath.Clean(mp.Path)
			if !filepath.IsAbs(mp.Path) {
				return errdefs.New(ErrUsage, "image %s: mount point %s is at %q, not an absolute path: fix the image", a.manifest.Name, mp.Name, mp.Path)
			}
			if err := stage1.CheckMountTarget(path); err != nil {
				return errdefs.New(ErrUsage, "image %s: mount point %s: %v: fix the image", a.manifest.Name, mp.Name, err)
			}
			if hasMountOn(a.mounts, path) {
				continue
			}
			if !volumes[mp.Name] {
				v, err := implicitVolume(a.tree, mp)
				if err != nil {
					return fmt.Errorf("app %s: %w", a.name, err)
				}
				pl.implicit = append(pl.implicit, v)
				volumes[mp.Name] = true
			}
			a.mounts = append(a.mounts, schema.Mount{Volume: mp.Name, Path: path})
		}
	}
	return nil
}

// hasMountOn reports whether mounts have one on path.
func hasMountOn(mounts []schema.Mount, path string) bool {
	for _, m := range mounts {
		if filepath.Clean(m.Path) == path {
			return true
		}
	}
	return false
}

// implicitVolume is the empty volume of a mount point no volume is given
// for: read-only if the mount point is, with the mode and owner of the
// image's folder at its path, if the image has one there, as Docker gives
// an anonymous volume, else 0755 and root's.
func implicitVolume(tree string, mp types.MountPoint) (types.Volume, error) {
	// appc writes an empty volume only with its mode and owner.
	mode, uid, gid := "0755", 0, 0
	v := types.Volume{Name: mp.Name, Kind: "empty", Mode: &mode, UID: &uid, GID: &gid}
	if mp.ReadOnly {
		ro := true
		v.ReadOnly = &ro
	}
	root, err := os.OpenRoot(tree)
	if err != nil {
		return v, fmt.Errorf("reading its image: %w", err)
	}
	defer root.Close()
	// Through the root: a link in the image cannot lead outside it.
	fi, err := root.Lstat(strings.TrimPrefix(filepath.Clean(mp.Path), "/"))
	if err != nil || !fi.IsDir() {
		// Nothing there, no folder, or a path through a link that
		// leaves the root: the volume keeps its defaults, and stage1
		// copies nothing.
		return v, nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return v, nil
	}
	mode, uid, gid = fmt.Sprintf("%#o", uint32(st.Mode)&0o7777), int(st.Uid), int(st.Gid)
	return v, nil
}
