package stage0

import (
	"encoding/json"
	"testing"
	"time"
)

// A file time outside the years JSON can hold is left out, so that the
// pod still encodes.
func TestTimePtrOutOfRange(t *testing.T) {
	for _, tm := range []time.Time{time.Unix(1e12, 0), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if p := timePtr(tm, nil); p != nil {
			t.Errorf("timePtr(%v) = %v, want nil", tm, p)
		}
	}
	ok := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	p := timePtr(ok, nil)
	if p == nil || !p.Equal(ok) {
		t.Fatalf("timePtr(%v) = %v", ok, p)
	}
	if _, err := json.Marshal(&PodInfo{CreatedAt: p}); err != nil {
		t.Fatal(err)
	}
}
