package systemd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"podctl/lifecycle"
)

// propagateDir is where systemd-nspawn makes, on the host, one folder per
// machine name for mounts it passes into the machine. nspawn removes it when
// it exits cleanly; a killed nspawn leaves it.
const propagateDir = "/run/systemd/nspawn/propagate"

// GC kills what is left of the pod, removes its cgroups and removes the
// propagate folder of its machine, which a killed nspawn leaves behind.
func (f *Flavor) GC(p *lifecycle.Pod) error {
	if err := f.CgroupControl.GC(p); err != nil {
		return err
	}
	if err := removePropagate(filepath.Join(propagateDir, hostname(p.UUID))); err != nil {
		return fmt.Errorf("removing nspawn's leftovers of pod %s: %w", p.UUID, err)
	}
	return nil
}

// removePropagate removes one machine's propagate folder. Mounts at or
// below it are detached first, deepest first, so that the removal never
// reaches into a file system mounted there; if one stays, the folder does.
func removePropagate(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ms, err := lifecycle.MountPointsUnder(dir)
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ms)))
	for _, m := range ms {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("unmounting %s: %w", m, err)
		}
	}
	if ms, err := lifecycle.MountPointsUnder(dir); err != nil {
		return err
	} else if len(ms) > 0 {
		return fmt.Errorf("%s is still mounted at %s", dir, ms[0])
	}
	return os.RemoveAll(dir)
}
