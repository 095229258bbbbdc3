package lifecycle

import (
	"bytes"
	"encoding/json"
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
// shared lock (so no gc moves or removes the pod meanwhile): a pod marked
// for collection keeps its mark time in its directory's ctime, which a new
// file would change. A summary written before the mark stays valid after
// it.

// summaryVersion is the version of the summary's envelope and of what the
// reader stores in it; a summary of another version is rebuilt.
const summaryVersion = 1

// summary is the envelope of FileSummary: the pod it was made for, the
// manifest it was made from, and the reader's own data.
type summary struct {
	Version  int             `json:"v"`
	UUID     string          `json:"uuid"`
	Manifest string          `json:"manifest"`
	Data     json.RawMessage `json:"data"`
}

// manifestKey identifies the manifest file as it is now: a copy, a
// rewrite or a change gives another key.
func (p *Pod) manifestKey() (string, error) {
	st, err := p.statFile(FileManifest)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(st.Ino, 10) + ":" + strconv.FormatInt(st.Mtim.Nano(), 10) + ":" + strconv.FormatInt(st.Size, 10), nil
}

// Summary returns the data of the pod's summary if the pod is finished and
// its summary is current; ok is false otherwise, and the caller reads the
// pod's files (and may call WriteSummary).
func (p *Pod) Summary() (data []byte, ok bool) {
	if !p.state.IsAfterRun() || p.layoutErr != nil {
		return nil, false
	}
	b, err := p.ReadFile(FileSummary)
	if err != nil {
		return nil, false
	}
	var s summary
	if json.Unmarshal(b, &s) != nil || s.Version != summaryVersion || s.UUID != p.UUID || len(s.Data) == 0 {
		return nil, false
	}
	key, err := p.manifestKey()
	if err != nil || key != s.Manifest {
		return nil, false
	}
	return s.Data, true
}

// WriteSummary stores data as the pod's summary if the pod is exited and
// still in run/. It takes a shared lock without waiting, so it neither
// waits for nor races with a gc that moves or removes the pod; a pod that
// is busy is left without. Atomic, not durable: a summary lost in a crash
// is rebuilt from the pod's files.
func (p *Pod) WriteSummary(data []byte) error {
	if p.state != Exited || p.layoutErr != nil || len(data) == 0 {
		return nil
	}
	if err := flock.TryLock(p.dir, flock.Shared); err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return nil
		}
		return fmt.Errorf("writing summary of pod %s: %w", p.UUID, err)
	}
	defer flock.Unlock(p.dir)
	if err := p.checkStillThere(); err != nil {
		// Moved or removed before we locked it: nothing to cache.
		return nil
	}
	key, err := p.manifestKey()
	if err != nil {
		return fmt.Errorf("writing summary of pod %s: %w", p.UUID, err)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(summary{summaryVersion, p.UUID, key, data}); err != nil {
		return fmt.Errorf("writing summary of pod %s: %w", p.UUID, err)
	}
	return p.WriteFile(FileSummary, buf.Bytes(), false)
}
