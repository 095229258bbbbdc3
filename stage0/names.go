package stage0

// Pod names.
//
// A pod may be given a name when it is prepared (--name before the first
// image). The name is kept in two places:
//
//   - the pod manifest's annotation podctl.io/name, which stays with the
//     pod and is what list, status and stage1 read;
//   - the names index of the data directory, which makes names unique and
//     lets every command find a pod by its name:
//
//	<datadir>/names/
//	├── .lock     flock, held exclusively to claim or release a name
//	└── <name>    a symlink whose target is the UUID of the pod holding it
//
// A name is claimed after the pod exists (in prepare/, locked by its
// creator) and before it is laid out; a creator that loses the claim
// discards its pod, so two `run --name x` at once leave one pod. A name is
// released after its pod's directory is deleted (rm, gc, a failed
// prepare). An entry whose pod is gone, left by a crash between the two,
// counts as free: the next claim replaces it and gc removes it. Claims
// and releases check and change an entry under the lock, so that a
// release never removes an entry that another pod has claimed meanwhile.
//
// No fsync of its own: a prepared pod is made durable by the syncfs of
// ToPrepared, which covers the index on the same file system; a pod run at
// once is not durable either.
//
// Names cannot be mistaken for UUIDs: a name that could be the start of a
// UUID (hex digits, with dashes only where a UUID has them) is refused, so
// an argument is a name exactly when it could not be a UUID prefix.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema"

	"podctl/datadir"
	"podctl/internal/errdefs"
	"podctl/internal/flock"
	"podctl/lifecycle"
)

// MaxPodNameLen is the longest pod name, as long as a DNS label.
const MaxPodNameLen = 63

// namesDir is the names index in the data directory.
func namesDir(dataDir string) string { return datadir.NamesDir(dataDir) }

// validPodName reports whether name is `^[a-z0-9]+(-[a-z0-9]+)*$`, checked
// by hand: a regular expression compiled as the package is loaded costs
// every podctl process's start.
func validPodName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1 && name[i-1] != '-':
		default:
			return false
		}
	}
	return name != ""
}

// CheckPodName says what is wrong with a pod name, or nil.
func CheckPodName(name string) error {
	if name == "" || len(name) > MaxPodNameLen || !validPodName(name) {
		return errdefs.New(ErrUsage, "pod name %q is not valid: use 1 to %d lower-case letters, digits and single dashes, starting and ending with a letter or digit", name, MaxPodNameLen)
	}
	if couldBeUUIDPrefix(name) {
		return errdefs.New(ErrUsage, "pod name %q could be the start of a pod UUID: put a letter from g to z in it, or a dash where a UUID has none", name)
	}
	if looksLikeTime(name) {
		return errdefs.New(ErrUsage, "pod name %q reads as a time or a duration, which list --filter before= and since= would take it for: choose another", name)
	}
	return nil
}

// couldBeUUIDPrefix reports whether s could be the beginning of a UUID as
// podctl prints them: 8-4-4-4-12 lower-case hex digits.
func couldBeUUIDPrefix(s string) bool {
	if len(s) > 36 {
		return false
	}
	for i, c := range s {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		switch {
		case dash && c == '-':
		case !dash && (c >= '0' && c <= '9' || c >= 'a' && c <= 'f'):
		default:
			return false
		}
	}
	return true
}

// looksLikeTime reports whether s is a time or a duration as the before
// and since filters read them.
func looksLikeTime(s string) bool {
	_, err := parseFilterTime(s, time.Now())
	return err == nil
}

// isPodName reports whether a pod argument is meant as a name rather than a
// UUID or UUID prefix.
func isPodName(s string) bool {
	return CheckPodName(s) == nil
}

// lockNames takes the names index lock, creating the index if needed. The
// caller calls the function returned to unlock.
func lockNames(dataDir string) (func(), error) {
	dir := namesDir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the names index: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the names index: %w", err)
	}
	if err := flock.Lock(f, flock.Exclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the names index: %w", err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}

// nameHolder returns the UUID of the pod that holds name, or "" if the
// name is free: no entry, or an entry whose pod is gone.
func nameHolder(dataDir, name string) (string, error) {
	id, err := os.Readlink(filepath.Join(namesDir(dataDir), name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("reading the names index: %w", err)
	}
	alive, err := podExists(dataDir, id)
	if err != nil || !alive {
		return "", err
	}
	return id, nil
}

// podExists reports whether the pod with this full UUID is in any state
// folder.
func podExists(dataDir, id string) (bool, error) {
	p, err := lifecycle.PodFromUUIDString(dataDir, id)
	if err != nil {
		if errors.Is(err, lifecycle.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	p.Close()
	return true, nil
}

// errNameTaken says that another pod holds the name.
func errNameTaken(name, holder string) error {
	return errdefs.New(lifecycle.ErrBusy, "pod name %q is taken by pod %s: choose another name, or remove that pod first (podctl rm %s)", name, holder, name)
}

// checkNameFree refuses a name another pod holds. It changes nothing: it
// lets prepare fail before it imports or creates anything, while
// claimName decides.
func checkNameFree(dataDir, name string) error {
	holder, err := nameHolder(dataDir, name)
	if err != nil {
		return err
	}
	if holder != "" {
		return errNameTaken(name, holder)
	}
	return nil
}

// claimName gives name to the pod id, unless a pod that still exists
// holds it.
func claimName(dataDir, name, id string) error {
	unlock, err := lockNames(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	holder, err := nameHolder(dataDir, name)
	if err != nil {
		return err
	}
	if holder != "" {
		return errNameTaken(name, holder)
	}
	entry := filepath.Join(namesDir(dataDir), name)
	// A stale entry (its pod is gone) is replaced: under the lock nobody
	// else is changing it.
	if err := os.Remove(entry); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("claiming pod name %q: %w", name, err)
	}
	if err := os.Symlink(id, entry); err != nil {
		return fmt.Errorf("claiming pod name %q: %w", name, err)
	}
	return nil
}

// releaseName frees name if the pod id holds it; an entry that names
// another pod is left alone.
func releaseName(dataDir, name, id string) error {
	if name == "" {
		return nil
	}
	unlock, err := lockNames(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	entry := filepath.Join(namesDir(dataDir), name)
	if holder, err := os.Readlink(entry); err != nil || holder != id {
		return nil
	}
	if err := os.Remove(entry); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("releasing pod name %q: %w", name, err)
	}
	return nil
}

// sweepNames removes the entries of the names index whose pods are gone,
// which a crash between a pod's removal and its name's release leaves.
func sweepNames(dataDir string) error {
	entries, err := os.ReadDir(namesDir(dataDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("reading the names index: %w", err)
	}
	if len(entries) <= 1 {
		return nil // only the lock
	}
	unlock, err := lockNames(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		entry := filepath.Join(namesDir(dataDir), e.Name())
		id, err := os.Readlink(entry)
		if err != nil {
			continue
		}
		alive, err := podExists(dataDir, id)
		if err != nil {
			return err
		}
		if !alive {
			if err := os.Remove(entry); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing stale pod name %q: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// openPodByName opens the pod named name.
func openPodByName(dataDir, name string) (*lifecycle.Pod, error) {
	notFound := errdefs.New(lifecycle.ErrNotFound, "no pod named %q: see podctl list", name)
	id, err := os.Readlink(filepath.Join(namesDir(dataDir), name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound
		}
		return nil, fmt.Errorf("reading the names index: %w", err)
	}
	p, err := lifecycle.PodFromUUIDString(dataDir, id)
	if errors.Is(err, lifecycle.ErrNotFound) {
		// A stale entry: the pod is gone.
		return nil, notFound
	}
	return p, err
}

// podNameOf is the name in a pod manifest, or "".
func podNameOf(m *schema.PodManifest) string {
	if m == nil {
		return ""
	}
	name, _ := m.Annotations.Get(lifecycle.AnnotationName)
	return name
}

// readPodName is the name of an opened pod, or "" if it has none or no
// manifest yet.
func readPodName(p *lifecycle.Pod) string {
	_, m, err := p.PodManifest()
	if err != nil {
		return ""
	}
	return podNameOf(m)
}
