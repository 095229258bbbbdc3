// Package stage0 is what runs in the user's podctl process: it resolves
// images, writes pod manifests, lays out app roots and hands pods to stage1;
// it also stops, enters, removes and collects pods through their flavor.
package stage0

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"podctl/datadir"
	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/flavors"
	"podctl/store"
)

// Config is what every stage0 operation needs.
type Config struct {
	// DataDir is podctl's data directory.
	DataDir string
	// Debug asks for progress on stderr.
	Debug bool
	// InsecurePull are the checks of registry pulls to skip: http (plain
	// HTTP), tls (certificates).
	InsecurePull []string
	// Signatures is where the signatures of OCI and Docker images are
	// looked for, a folder or a URL, instead of the usual places
	// (podctl-fetch's imagePolicy); "" for those.
	Signatures string
	// Quiet hides the progress of pulls and imports.
	Quiet bool
	// PullPolicy says when a registry image (docker://) is pulled, as
	// rkt's --pull-policy: PullNever, PullNew (the default) or PullUpdate.
	PullPolicy string
	// Warn tells the user of a failure that does not fail the command (a
	// mark not written, an image's device nodes left out). The CLI prints
	// it; nil drops the warning.
	Warn func(error)
}

// The pull policies of registry images.
const (
	// PullNever takes the image from the store only.
	PullNever = "never"
	// PullNew pulls it only when the store has none of that reference.
	PullNew = "new"
	// PullUpdate pulls it again, whatever the store has.
	PullUpdate = "update"
)

// ParsePullPolicy checks a --pull-policy value; "" is PullNew.
func ParsePullPolicy(s string) (string, error) {
	switch s {
	case "":
		return PullNew, nil
	case PullNever, PullNew, PullUpdate:
		return s, nil
	}
	return "", errdefs.New(ErrUsage, "--pull-policy %q: podctl knows never, new and update", s)
}

// warn gives err to c.Warn, if there is one.
func (c Config) warn(err error) {
	if c.Warn != nil {
		c.Warn(err)
	}
}

// Errors that the command line tells apart.
var (
	// ErrUsage wraps errors in what the user asked for.
	ErrUsage = errdefs.ErrInvalid
)

// ImagesDir is the image store's folder in the data directory.
func (c Config) ImagesDir() string { return datadir.ImagesDir(c.DataDir) }

// Init makes sure the data directory exists and is writable.
func (c Config) Init() error {
	if err := lifecycle.Init(c.DataDir); err != nil {
		return c.dataDirError(err)
	}
	return nil
}

// dataDirError explains a failure to write the data directory.
func (c Config) dataDirError(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("data directory %s cannot be written (%v): run podctl as root, fix its permissions or choose another with --dir", c.DataDir, err)
	}
	return err
}

// OpenStore opens the image store.
func (c Config) OpenStore() (*store.Store, error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", c.DataDir, err)
	}
	st, err := store.Open(c.ImagesDir())
	if err == nil {
		st.SetZstdReader(throughHelper(c.DataDir, "zstd-decompress", "zstd"))
		st.SetXzReader(throughHelper(c.DataDir, "xz-decompress", "xz"))
	}
	return st, err
}

// OpenPod finds a pod by UUID, UUID prefix or name, to act on it. A pod
// whose layout this podctl does not know (newer, or an unreadable layout
// file) is refused with lifecycle's one-line error (Pod.CheckLayout).
func (c Config) OpenPod(id string) (*lifecycle.Pod, error) {
	p, err := c.findPod(id)
	if err != nil {
		return nil, err
	}
	if err := p.CheckLayout(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// findPod is OpenPod for status, which shows a pod of any layout. Names
// and UUID prefixes cannot be mistaken for each other (CheckPodName), so
// id is looked up as a name exactly when it could not be part of a UUID.
func (c Config) findPod(id string) (*lifecycle.Pod, error) {
	if s := strings.ToLower(strings.TrimSpace(id)); isPodName(s) {
		return openPodByName(c.DataDir, s)
	}
	return lifecycle.PodFromUUIDString(c.DataDir, id)
}

func flavorFor(p *lifecycle.Pod) (stage1.Flavor, error) {
	return flavors.ForPod(p)
}
