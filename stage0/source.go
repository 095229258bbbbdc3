package stage0

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema"

	"podctl/lifecycle"
	"podctl/podfile"
)

// Source is where a pod declared in a pod file comes from: what podctl
// apply records in the pod manifest, so that a later apply can tell the
// pod's file, whether the file changed, and how long a stop may take.
type Source struct {
	// File is the pod file's absolute path.
	File string
	// Digest is podfile.Digest of the file's bytes.
	Digest string
	// StopGrace is how long a stop of the pod waits before it kills; 0 is
	// podctl stop's default.
	StopGrace time.Duration
}

// annotate records s in the pod manifest; a nil s records nothing.
func (s *Source) annotate(pm *schema.PodManifest) {
	if s == nil {
		return
	}
	pm.Annotations.Set(lifecycle.AnnotationSourceFile, s.File)
	pm.Annotations.Set(lifecycle.AnnotationSourceDigest, s.Digest)
	if s.StopGrace > 0 {
		pm.Annotations.Set(lifecycle.AnnotationStopGrace, s.StopGrace.String())
	}
}

// Whether a pod matches its file, as SourceInfo.Match says.
const (
	// SourceMatches: the file has the bytes the pod was made from.
	SourceMatches = "matches"
	// SourceChanged: the file has changed since; apply replaces the pod.
	SourceChanged = "changed"
	// SourceGone: the file is no more; apply removes the pod.
	SourceGone = "gone"
	// SourceUnreadable: the file could not be read.
	SourceUnreadable = "unreadable"
)

// SourceInfo is a pod's pod file, as list and status show it.
type SourceInfo struct {
	File   string `json:"file"`
	Digest string `json:"digest"`
	// StopGrace is the file's grace period for a stop, "" for the
	// default.
	StopGrace string `json:"stop_grace,omitempty"`
	// Match is one of SourceMatches, SourceChanged, SourceGone and
	// SourceUnreadable: how the file is now.
	Match string `json:"match"`
}

// readSource reads the source annotations of a pod manifest, and compares
// the file now with its recorded digest. The annotations were written by
// podctl into the manifest, which no app can reach; the file is only
// hashed, never acted on.
func readSource(m *schema.PodManifest) *SourceInfo {
	file, ok := m.Annotations.Get(lifecycle.AnnotationSourceFile)
	if !ok {
		return nil
	}
	si := &SourceInfo{File: file}
	si.Digest, _ = m.Annotations.Get(lifecycle.AnnotationSourceDigest)
	si.StopGrace, _ = m.Annotations.Get(lifecycle.AnnotationStopGrace)
	si.Match = sourceMatch(file, si.Digest)
	return si
}

// sourceMatch says how the file at path compares with digest.
func sourceMatch(path, digest string) string {
	f, _, err := podfile.OpenRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return SourceGone
	}
	if err != nil {
		return SourceUnreadable
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, podfile.MaxSize+1))
	if err != nil {
		return SourceUnreadable
	}
	if podfile.Digest(b) == digest {
		return SourceMatches
	}
	return SourceChanged
}

// sourceUnder reports whether a pod's source file is path, or lies in the
// folder path.
func sourceUnder(si *SourceInfo, path string) bool {
	if si == nil {
		return false
	}
	path = filepath.Clean(path)
	return si.File == path || strings.HasPrefix(si.File, path+"/") || path == "/"
}
