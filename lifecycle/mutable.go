package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"

	"podctl/internal/errdefs"
	"podctl/internal/flock"
	"podctl/internal/manifest"
)

// A mutable pod (podctl run --mutable) starts with no app, or some, and
// stays up until it is stopped; `podctl app add|start|stop|rm` change its
// apps while it runs. Its stage1 holds the pod's lock for the pod's whole
// life, as for any pod, so the manifest's changes are serialised by a lock
// of their own, FileManifestLock: whoever rewrites the manifest holds it
// exclusively from reading the manifest to writing it back, and stage1
// holds it shared while it reads an app from it.

// ErrImmutable is the class of the error UpdateManifest and
// SandboxManifest return for a pod that was not made mutable.
var ErrImmutable = errors.New("pod is not mutable")

// IsMutable reports whether the pod manifest is that of a mutable pod.
func IsMutable(m *schema.PodManifest) bool {
	v, ok := m.Annotations.Get(AnnotationMutable)
	return ok && v == "true"
}

// SandboxManifest reads the manifest of a mutable pod; for another pod
// the error wraps ErrImmutable.
func (p *Pod) SandboxManifest() ([]byte, *schema.PodManifest, error) {
	b, m, err := p.PodManifest()
	if err != nil {
		return nil, nil, err
	}
	if !IsMutable(m) {
		return nil, nil, errdefs.New(ErrImmutable, "pod %s is not mutable: only a pod started with --mutable gets apps added, started, stopped or removed", p.UUID)
	}
	return b, m, nil
}

// LockManifest takes the lock of the pod's manifest, exclusive or shared,
// waiting for it, and returns its release.
func (p *Pod) LockManifest(kind flock.Kind) (func(), error) {
	fd, err := unix.Openat(p.fd, FileManifestLock, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking manifest of pod %s: %w", p.UUID, err)
	}
	f := os.NewFile(uintptr(fd), p.FilePath(FileManifestLock))
	if err := flock.Lock(f, kind); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking manifest of pod %s: %w", p.UUID, err)
	}
	return func() {
		flock.Unlock(f)
		f.Close()
	}, nil
}

// UpdateManifest changes the manifest of a running mutable pod: with the
// manifest's lock held exclusively, it reads the manifest, lets change
// edit it and, unless change fails, writes it back durably (an app added
// to a pod must not be lost in a power cut while its files survive). A
// pod that is not mutable is refused with an error wrapping ErrImmutable.
func (p *Pod) UpdateManifest(change func(*schema.PodManifest) error) error {
	unlock, err := p.LockManifest(flock.Exclusive)
	if err != nil {
		return err
	}
	defer unlock()
	_, m, err := p.SandboxManifest()
	if err != nil {
		return err
	}
	if err := change(m); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("writing manifest of pod %s: %w", p.UUID, err)
	}
	// What stage1 will read back must pass the same checks as any manifest.
	if _, err := manifest.ParsePod(b); err != nil {
		return fmt.Errorf("writing manifest of pod %s: %w", p.UUID, err)
	}
	return p.WriteFile(FileManifest, b, true)
}
