package stage1

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/appc/spec/schema"

	"podctl/lifecycle"
)

// PrivateUsers is the host range a pod's user namespace maps its ids to
// (--private-users): the pod's uid and gid 0 are the host's UID and GID,
// and Count ids from there are the pod's. stage0 allocates it when the pod
// is prepared, without overlap with any other pod's, and the pod manifest
// carries it (lifecycle.AnnotationPrivateUsers).
type PrivateUsers struct {
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Count uint32 `json:"count"`
	// Ownership is how the apps' trees come to be owned by the pod's
	// ids: OwnershipMap (idmapped mounts: nothing is copied) or
	// OwnershipChown (each tree is a copy, chowned into the range when
	// the pod is prepared).
	Ownership string `json:"ownership"`
}

// The ways an app's tree is owned by a pod's ids.
const (
	OwnershipMap   = "map"
	OwnershipChown = "chown"
)

// Ranges of private users.
const (
	// DefaultUsers is the size of a pod's range, as rkt's, nspawn's and
	// podman's: every id an image is likely to use.
	DefaultUsers = 65536
	// MinPrivateUID is the lowest host id a range may start at: the ids
	// below are the host's own users.
	MinPrivateUID = 65536
	// maxID is the last valid id: (uid_t)-1 means none.
	maxID = 1<<32 - 2
)

// Check refuses a range that maps the host's root or its first ids, ends
// beyond the last id, or whose ownership is not known.
func (u *PrivateUsers) Check() error {
	if u.Count == 0 {
		return fmt.Errorf("a range of 0 ids")
	}
	for _, start := range []uint32{u.UID, u.GID} {
		if start < MinPrivateUID {
			return fmt.Errorf("host id %d is below %d, the host's own users'", start, MinPrivateUID)
		}
		if uint64(start)+uint64(u.Count)-1 > maxID {
			return fmt.Errorf("%d ids from %d go beyond the last id", u.Count, start)
		}
	}
	if u.Ownership != OwnershipMap && u.Ownership != OwnershipChown {
		return fmt.Errorf("ownership %q is neither %s nor %s", u.Ownership, OwnershipMap, OwnershipChown)
	}
	return nil
}

// String is the range as --private-users takes it, UID:COUNT (with the
// gid range when it differs).
func (u *PrivateUsers) String() string {
	s := strconv.FormatUint(uint64(u.UID), 10) + ":" + strconv.FormatUint(uint64(u.Count), 10)
	if u.GID != u.UID {
		s += " (gid " + strconv.FormatUint(uint64(u.GID), 10) + ")"
	}
	return s
}

// UIDMappings and GIDMappings are the range as os/exec maps a child's
// user namespace.
func (u *PrivateUsers) UIDMappings() []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(u.UID), Size: int(u.Count)}}
}

// GIDMappings: see UIDMappings.
func (u *PrivateUsers) GIDMappings() []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(u.GID), Size: int(u.Count)}}
}

// HostUID is the host's uid of the pod's id, and HostGID its gid.
func (u *PrivateUsers) HostUID(id uint32) uint32 { return u.UID + id }

// HostGID: see HostUID.
func (u *PrivateUsers) HostGID(id uint32) uint32 { return u.GID + id }

// Overlaps tells whether two ranges share a host uid or gid.
func (u *PrivateUsers) Overlaps(o *PrivateUsers) bool {
	over := func(a, b uint32) bool {
		return uint64(a) < uint64(b)+uint64(o.Count) && uint64(b) < uint64(a)+uint64(u.Count)
	}
	return over(u.UID, o.UID) || over(u.GID, o.GID)
}

// FormatPrivateUsers is the annotation's value.
func FormatPrivateUsers(u *PrivateUsers) (string, error) {
	if err := u.Check(); err != nil {
		return "", err
	}
	b, err := json.Marshal(u)
	return string(b), err
}

// ReadPrivateUsers reads a pod's range from its manifest: nil if the pod
// shares the host's users.
func ReadPrivateUsers(m *schema.PodManifest) (*PrivateUsers, error) {
	v, ok := m.Annotations.Get(lifecycle.AnnotationPrivateUsers)
	if !ok {
		return nil, nil
	}
	return ParsePrivateUsers(v)
}

// ParsePrivateUsers reads the annotation's value, refusing any range
// Check refuses.
func ParsePrivateUsers(v string) (*PrivateUsers, error) {
	var u PrivateUsers
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return nil, fmt.Errorf("pod manifest: %s: %w", lifecycle.AnnotationPrivateUsers, err)
	}
	if err := u.Check(); err != nil {
		return nil, fmt.Errorf("pod manifest: %s: %w", lifecycle.AnnotationPrivateUsers, err)
	}
	return &u, nil
}
