package events

import (
	"encoding/binary"
	"strings"
	"testing"
)

// inotifyRecord builds one struct inotify_event as the kernel writes it:
// the name NUL-padded to a multiple of 4 bytes.
func inotifyRecord(mask uint32, name string) []byte {
	n := 0
	if name != "" {
		n = (len(name) + 4) &^ 3
	}
	b := make([]byte, 16+n)
	binary.NativeEndian.PutUint32(b[0:], 1)
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[16:], name)
	return b
}

// FuzzConcernsLog reads batches of inotify records: it never reads out of
// the batch, and a batch whose first record names the log concerns it.
func FuzzConcernsLog(f *testing.F) {
	f.Add(inotifyRecord(2, "events.log"), "")
	f.Add(append(inotifyRecord(2, "events.lock"), inotifyRecord(0x100, "events.log.1")...), "x")
	f.Add([]byte{1, 2, 3}, "events.log")
	f.Fuzz(func(t *testing.T, batch []byte, name string) {
		concernsLog(batch)
		for _, n := range []string{LogFile, OldLogFile} {
			if !concernsLog(append(inotifyRecord(2, n), batch...)) {
				t.Fatalf("a batch that starts with a record of %s does not concern the log", n)
			}
		}
		if name != "" && name != LogFile && name != OldLogFile && len(name) < 256 && !strings.Contains(name, "\x00") {
			if concernsLog(inotifyRecord(2, name)) {
				t.Fatalf("a record of %q concerns the log", name)
			}
		}
	})
}
