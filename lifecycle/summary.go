package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"podctl/internal/flock"
)

// A pod's summary (FileSummary) is a cache of what list and status read of
// an exited pod: a copy, never the only one, made from the pod's own files
// and rebuilt from them whenever it is missing, damaged, of another
// version, of another pod (a copied directory) or older than the manifest
// it was made from. An exited pod's files no longer change: its stage1,
// their writer, is gone (its lock is free), so what was read once holds.
//
// Only an exited pod in run/ gets one, written by the reader under a
// shared lock (so no gc moves or removes the pod meanwhile), and only if
// the pod's layout is known: a pod marked for collection keeps its mark
// time in its directory's ctime, which a new file would change. A summary
// written before the mark stays valid after it.
//
// The file is one header line, "podctl-summary VERSION UUID MANIFEST-KEY",
// then the reader's data, so that reading it parses the data once.

// summaryMagic starts a summary's header line.
const summaryMagic = "podctl-summary"

// summaryVersion is the version of the summary's header and of what the
// reader stores after it; a summary of another version is rebuilt.
const summaryVersion = "2"

// manifestKey identifies the manifest file as it is now: a copy, a
// rewrite or a change gives another key.
func (p *Pod) manifestKey() (string, error) {
	st, err := p.statFile(FileManifest)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(st.Ino, 10) + ":" + strconv.FormatInt(st.Mtim.Nano(), 10) + ":" + strconv.FormatInt(st.Size, 10), nil
}

// parseSummary returns the data of summary b if its header names this
// version, pod uuid and manifest key.
func parseSummary(b []byte, uuid, key string) ([]byte, bool) {
	header, data, ok := bytes.Cut(b, []byte("\n"))
	if !ok || len(data) == 0 {
		return nil, false
	}
	f := bytes.Fields(header)
	if len(f) != 4 || string(f[0]) != summaryMagic || string(f[1]) != summaryVersion || string(f[2]) != uuid || string(f[3]) != key {
		return nil, false
	}
	return data, true
}

// Summary returns the data of the pod's summary if the pod has run and
// its summary is current; ok is false otherwise, and the caller reads the
// pod's files (and may call WriteSummary). A current summary was written
// when the pod's layout was known, which it still is: the layout file is
// not read.
func (p *Pod) Summary() (data []byte, ok bool) {
	if !p.state.IsAfterRun() {
		return nil, false
	}
	b, err := p.readFile(FileSummary, 4096, 0)
	if err != nil {
		return nil, false
	}
	key, err := p.manifestKey()
	if err != nil {
		return nil, false
	}
	return parseSummary(b, p.UUID, key)
}

// WriteSummary stores data as the pod's summary if the pod is exited,
// still in run/ and of a known layout. It takes a shared lock without
// waiting, so it neither waits for nor races with a gc that moves or
// removes the pod; a busy pod is left without. Atomic, not durable: a
// summary lost in a crash is rebuilt from the pod's files, and a torn one
// cannot be read as whole (the temp file is renamed in).
func (p *Pod) WriteSummary(data []byte) error {
	if p.state != Exited || len(data) == 0 || p.CheckLayout() != nil {
		return nil
	}
	if err := p.tryLock(flock.Shared); err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return nil
		}
		return fmt.Errorf("writing summary of pod %s: %w", p.UUID, err)
	}
	defer p.unlock()
	if err := p.checkStillThere(); err != nil {
		// Moved or removed before we locked it: nothing to cache.
		return nil
	}
	key, err := p.manifestKey()
	if err != nil {
		return fmt.Errorf("writing summary of pod %s: %w", p.UUID, err)
	}
	b := make([]byte, 0, len(data)+128)
	b = fmt.Appendf(b, "%s %s %s %s\n", summaryMagic, summaryVersion, p.UUID, key)
	return p.WriteFile(FileSummary, append(b, data...), false)
}
