package lifecycle

import (
	"fmt"

	"github.com/moby/sys/mountinfo"
)

// MountPointsUnder returns the mount points of the calling thread's mount
// table that are dir or below it, parents before children: what is still
// mounted in a pod (or the pods folder) that must be undone before it is
// removed. The thread's own table: a thread that set up an app's root has
// a mount namespace of its own, which /proc/self (the leader's) is not.
func MountPointsUnder(dir string) ([]string, error) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Mountpoint
	}
	return out, nil
}
