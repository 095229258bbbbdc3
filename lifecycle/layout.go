package lifecycle

import (
	"path/filepath"

	"podctl/internal/fsutil"
	"podctl/internal/layout"
)

// The layout of a pod directory is versioned. A pod records the version it
// was made with in FileLayout (internal/layout draws the file:
// {"layout":1,"written_by":"podctl 0.1.0-dev"}), written by NewPod before
// the pod leaves embryo/ and never changed after. A pod without the file
// was made before layout versions and is version 1.
//
// Every pod is opened whatever its version, so that list and status show
// it, but a pod whose version is newer than LayoutVersion, or whose layout
// file cannot be read, is refused by CheckLayout and by TryExclusiveLock:
// this podctl does not know its files, so it neither runs, stops, enters
// nor removes it.
const (
	// LayoutVersion is the layout this podctl writes, and the newest it
	// reads. Version 1 is the layout of the pods podctl made before
	// versions were recorded.
	LayoutVersion = 1
)

// writeLayout records the layout of a pod being created, in its embryo
// folder. Not fsynced: ToPrepared syncs the pod's files, and a pod that
// loses the file in a crash is read as version 1, which it is.
func writeLayout(path string) error {
	return fsutil.WriteFile(filepath.Join(path, FileLayout), layout.New(LayoutVersion).Marshal(), 0o600, false)
}

// readLayout reads the layout of the opened pod; the error is the one
// CheckLayout returns.
func (p *Pod) readLayout() error {
	_, err := layout.Load(p.fd, FileLayout, "pod "+p.UUID, filepath.Join(p.Path(), FileLayout), LayoutVersion)
	return err
}

// CheckLayout returns nil if this podctl knows the pod's layout. Otherwise
// the error, one line, says which version the pod has and which podctl
// wrote it (*layout.NewerError), or that its layout file cannot be read
// (*layout.DamagedError); the pod must then be left as it is. Commands that
// act on a pod check it as they open it; list and status show the pod with
// the error. The layout file is read on the first call.
func (p *Pod) CheckLayout() error {
	if !p.layoutRead {
		p.layoutErr, p.layoutRead = p.readLayout(), true
	}
	return p.layoutErr
}
