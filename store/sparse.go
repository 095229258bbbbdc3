package store

import (
	"bytes"
	"fmt"
	"os"
)

// holeBlock is the size of the aligned blocks that become holes when they
// hold only zeros: the block size of common filesystems, so each block
// skipped is one block of disk saved.
const holeBlock = 4096

var zeroBlock [holeBlock]byte

// sparseWriter writes a new, empty file from its start, leaving holes where
// the data is zeros. archive/tar hands a sparse entry over as a stream with
// its holes filled with zeros, and keeps its sparse map to itself; finding
// the zeros again is how a sparse entry stays sparse on disk (and a blob of
// a zero-filled bomb costs no disk while it is checked). Skipping zeros is
// safe because nothing was ever written at or after the writer's offset:
// what it skips reads back as zeros.
type sparseWriter struct {
	f   *os.File
	off int64 // offset of the next byte
	end int64 // end of the data written, at most off
}

func newSparseWriter(f *os.File) *sparseWriter { return &sparseWriter{f: f} }

// Write writes p at the current offset, skipping each chunk of p that is
// zeros and lies within one aligned block. Runs of data are written with
// one pwrite each.
func (w *sparseWriter) Write(p []byte) (int, error) {
	total := len(p)
	runStart, runOff := -1, int64(0) // the data run not written yet
	flush := func(i int) error {
		if runStart < 0 {
			return nil
		}
		if _, err := w.f.WriteAt(p[runStart:i], runOff); err != nil {
			return err
		}
		w.end = runOff + int64(i-runStart)
		runStart = -1
		return nil
	}
	for i := 0; i < len(p); {
		n := holeBlock - int(w.off%holeBlock)
		n = min(n, len(p)-i)
		chunk := p[i : i+n]
		if bytes.Equal(chunk, zeroBlock[:n]) {
			if err := flush(i); err != nil {
				return i, err
			}
		} else if runStart < 0 {
			runStart, runOff = i, w.off
		}
		i += n
		w.off += int64(n)
	}
	if err := flush(len(p)); err != nil {
		return runStart, err
	}
	return total, nil
}

// finish gives the file its whole length: zeros at the end were skipped
// and are now a hole up to the length.
func (w *sparseWriter) finish() error {
	if w.off == w.end {
		return nil
	}
	if err := w.f.Truncate(w.off); err != nil {
		return fmt.Errorf("setting the length of %s: %w", w.f.Name(), err)
	}
	return nil
}
