package store

import (
	"archive/tar"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what one image may cost the disk. An image is refused, while
// it is imported and again while its tree is rendered, as soon as it passes
// either; a zero field means its default.
type Limits struct {
	// MaxSize bounds the uncompressed size of an image: its tar stream,
	// and apart from that the sum of the sizes its files declare, which
	// for a sparse file is its whole length, holes included.
	MaxSize int64
	// MaxEntries bounds how many entries the archive holds.
	MaxEntries int64
}

// The defaults fit every real image with room to spare: distribution and
// language images are a few GiB and 10^4 to 10^5 files, the largest common
// ones (CUDA and machine-learning toolkits) stay under 16 GiB and 500,000
// files. A bomb is stopped before it costs more than that; a larger image
// is imported with a raised limit.
const (
	DefaultMaxSize    = 16 << 30
	DefaultMaxEntries = 1_000_000
)

// withDefaults fills the zero fields of l.
func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// SetLimits sets the limits that Import, ImportRootfs and Tree apply from
// now on. An image already stored renders under the larger of these and the
// size and entry count it was imported with.
func (s *Store) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l.withDefaults()
}

// currentLimits returns the limits set, or the defaults.
func (s *Store) currentLimits() Limits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits.withDefaults()
}

// LimitError is returned when an image passes one of its Limits. It wraps
// ErrInvalid: the image is refused, not the store broken.
type LimitError struct {
	// Entries tells which limit was passed: the entry count if set, the
	// uncompressed size if not.
	Entries bool
	// Limit is the limit that was passed.
	Limit int64
}

func (e *LimitError) Error() string {
	if e.Entries {
		return fmt.Sprintf("more entries than the limit of %d", e.Limit)
	}
	return fmt.Sprintf("uncompressed size over the limit of %s", FormatSize(e.Limit))
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *LimitError) Is(target error) bool { return target == ErrInvalid }

// tally counts an archive's entries and declared file sizes against limits.
type tally struct {
	lim      Limits
	entries  int64
	declared int64
}

// add counts one entry.
func (t *tally) add(hdr *tar.Header) error {
	t.entries++
	if t.entries > t.lim.MaxEntries {
		return &LimitError{Entries: true, Limit: t.lim.MaxEntries}
	}
	if hdr.Size > 0 && entryKindOf(hdr.Typeflag) == kindFile {
		t.declared += hdr.Size
		if hdr.Size > t.lim.MaxSize || t.declared > t.lim.MaxSize {
			return &LimitError{Limit: t.lim.MaxSize}
		}
	}
	return nil
}

// limitReader reads at most max bytes of r and fails with a LimitError
// instead of reading more, so that a decompression bomb is cut off as soon
// as it passes the limit.
type limitReader struct {
	r   io.Reader
	n   int64 // bytes read so far
	max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.max {
		// Only more than max bytes are an error: probe for one more.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, &LimitError{Limit: l.max}
		}
		return 0, err
	}
	if int64(len(p)) > l.max-l.n {
		p = p[:l.max-l.n]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// ParseSize reads a size in bytes, such as 512M, 20G or 1T (powers of 1024;
// a trailing "B" or "iB" is allowed, and a bare number is bytes).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if u, ok := strings.CutSuffix(t, "B"); ok {
		t = strings.TrimSuffix(u, "I")
	}
	shift := 0
	if t != "" {
		if i := strings.IndexByte("KMGTPE", t[len(t)-1]); i >= 0 {
			shift = 10 * (i + 1)
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 512M, 20G or 1T", s)
	}
	if n > (1<<63-1)>>shift {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n << shift, nil
}

// FormatSize writes a size in bytes the way ParseSize reads it, exactly
// where it can (16G), and otherwise with one decimal (1.5G).
func FormatSize(n int64) string {
	const units = "KMGTPE"
	for i := len(units) - 1; i >= 0; i-- {
		unit := int64(1) << (10 * (i + 1))
		if n >= unit {
			if n%unit == 0 {
				return fmt.Sprintf("%d%c", n/unit, units[i])
			}
			return fmt.Sprintf("%.1f%c", float64(n)/float64(unit), units[i])
		}
	}
	return strconv.FormatInt(n, 10)
}
