package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
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
// A running pod's summary (RunningSummary) holds what its manifest says,
// which only a new manifest changes (podctl app add and rm write one),
// and what its stage1 writes once as it starts (pid, cgroup record,
// networks); its key names the layout file and those files too (fewer
// once the pod is ready: runningKey). list
// reads it instead of parsing the manifest and reading those files, and
// reads what changes while the pod runs (its apps' statuses, whether it
// is terminating or paused) afresh. Nothing podctl acts on is taken from
// it: stop, gc and the other commands read the pod's own files, and list
// checks the recorded cgroup folders before it looks at them. The reader
// writes it without a lock, which stage1 holds: by path, so that a pod
// that ended and was moved meanwhile is left alone. Once the pod has
// exited, a reader replaces it with the exited pod's summary.
//
// The file is one header line, "podctl-summary VERSION UUID KEY KIND",
// KEY being the manifest's key (and the layout file's, for a running
// pod's) and KIND exited or running, then the reader's data, so that
// reading it parses the data once.

// summaryMagic starts a summary's header line.
const summaryMagic = "podctl-summary"

// summaryVersion is the version of the summary's header and of what the
// reader stores after it; a summary of another version is rebuilt.
const summaryVersion = "3"

// maxSummary bounds what a summary read takes: one longer is ignored,
// and the pod read from its files.
const maxSummary = 1 << 20

// The kinds of summary.
const (
	summaryExited  = "exited"
	summaryRunning = "running"
)

// manifestKey identifies the manifest file as it is now: a copy, a
// rewrite or a change gives another key.
func (p *Pod) manifestKey() (string, error) { return p.fileKey(FileManifest) }

// fileKey identifies a file of the pod as it is now: its inode, mtime and
// size.
func (p *Pod) fileKey(name string) (string, error) {
	st, err := p.statFile(name)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(st.Ino, 10) + ":" + strconv.FormatInt(st.Mtim.Nano(), 10) + ":" + strconv.FormatInt(st.Size, 10), nil
}

// runningKey identifies what a running pod's summary is made from: the
// manifest and the layout file as they are now, and the files its stage1
// writes once as it starts (its pid, cgroup record and networks; each
// "-" while missing). A running pod's layout is read by every command
// that acts on the pod, so a summary must not outlive a change of it (an
// exited pod's files no longer change). Each file is written whole under
// a new inode (temp file and rename), so a rewrite changes the key.
//
// A summary written once the pod is ready has a shorter key, marked
// readyKeyMark, which leaves out the pid and the cgroup record: stage1
// writes both before it starts any app, so before any app can be ready,
// and never again while the pod runs (it removes the record as the pod
// ends, when its summary is of no more use). The networks stay in it: a
// mutable pod with no app may be ready before they are attached. list
// reads the key of every running pod: two calls less each.
func (p *Pod) runningKey() (string, error) {
	_, err := p.statFile(FileReady)
	switch {
	case err == nil:
		return p.runningKeyOf(true)
	case errors.Is(err, fs.ErrNotExist):
		return p.runningKeyOf(false)
	}
	return "", err
}

// readyKeyMark follows the manifest's key in the key of a summary written
// once the pod was ready (runningKey).
const readyKeyMark = ",ready"

// runningKeyOf is runningKey of a pod that is ready, or not yet.
func (p *Pod) runningKeyOf(ready bool) (string, error) {
	m, err := p.manifestKey()
	if err != nil {
		return "", err
	}
	key := []byte(m)
	names := [...]string{FileLayout, FileNetworks, FilePid, FileCgroup}
	files := names[:]
	if ready {
		key = append(key, readyKeyMark...)
		files = names[:2]
	}
	for _, name := range files {
		st, err := p.statFile(name)
		key = append(key, ',')
		switch {
		case err == nil:
			key = strconv.AppendUint(key, st.Ino, 10)
			key = append(key, ':')
			key = strconv.AppendInt(key, st.Mtim.Nano(), 10)
			key = append(key, ':')
			key = strconv.AppendInt(key, st.Size, 10)
		case name != FileLayout && errors.Is(err, fs.ErrNotExist):
			key = append(key, '-')
		default:
			return "", err
		}
	}
	return string(key), nil
}

// headerOf is the header line of summary b.
func headerOf(b []byte) []byte {
	h, _, _ := bytes.Cut(b, []byte("\n"))
	return h
}

// parseSummary returns the data of summary b if its header names this
// version, pod uuid, manifest key and kind. By hand: it runs for every
// pod a list shows.
func parseSummary(b []byte, uuid, key, kind string) ([]byte, bool) {
	header, data, ok := bytes.Cut(b, []byte("\n"))
	if !ok || len(data) == 0 {
		return nil, false
	}
	for _, want := range [...]string{summaryMagic, summaryVersion, uuid, key} {
		f, rest, ok := bytes.Cut(header, []byte(" "))
		if !ok || string(f) != want {
			return nil, false
		}
		header = rest
	}
	if string(header) != kind {
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
	return p.summaryOf(summaryExited)
}

// summaryOf returns the data of the pod's summary if it is current and of
// this kind.
func (p *Pod) summaryOf(kind string) ([]byte, bool) {
	b, err := p.readOwnFile(FileSummary, maxSummary)
	if err != nil {
		return nil, false
	}
	keyOf := p.manifestKey
	if kind == summaryRunning {
		// The key of a summary written once the pod was ready names
		// fewer files (runningKey).
		ready := bytes.Contains(headerOf(b), []byte(readyKeyMark+","))
		keyOf = func() (string, error) { return p.runningKeyOf(ready) }
	}
	key, err := keyOf()
	if err != nil {
		return nil, false
	}
	return parseSummary(b, p.UUID, key, kind)
}

// RunningSummary returns the data of a running pod's summary if it is
// current (written from the manifest as it is now); ok is false
// otherwise, and the caller reads the manifest (and may call
// WriteRunningSummary). Like Summary, it spares the layout file.
func (p *Pod) RunningSummary() (data []byte, ok bool) {
	if p.state != Running {
		return nil, false
	}
	return p.summaryOf(summaryRunning)
}

// RunningSummaryKey identifies the pod manifest and layout file as they
// are now, for WriteRunningSummary: taken before they are read, it makes
// a summary of a manifest replaced meanwhile stale, never wrong.
func (p *Pod) RunningSummaryKey() (string, error) { return p.runningKey() }

// WriteRunningSummary stores data, read from the manifest whose
// RunningSummaryKey was key, as a running pod's summary, if the pod is running
// and of a known layout. The pod's stage1 holds its lock: the file is
// written by path, so that a pod that has ended and moved meanwhile gets
// nothing (at worst a temp file of the write, removed with the pod).
// Atomic, not durable, as WriteSummary.
func (p *Pod) WriteRunningSummary(key string, data []byte) error {
	if p.state != Running || len(data) == 0 || key == "" || p.CheckLayout() != nil {
		return nil
	}
	return p.WriteFile(FileSummary, summaryFile(p.UUID, key, summaryRunning, data), false)
}

// summaryFile is a summary's bytes: its header line, then data.
func summaryFile(uuid, key, kind string, data []byte) []byte {
	b := make([]byte, 0, len(data)+128)
	b = fmt.Appendf(b, "%s %s %s %s %s\n", summaryMagic, summaryVersion, uuid, key, kind)
	return append(b, data...)
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
	return p.WriteFile(FileSummary, summaryFile(p.UUID, key, summaryExited, data), false)
}
