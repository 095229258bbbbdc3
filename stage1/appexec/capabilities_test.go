package appexec

import (
	"fmt"
	"os"
	"runtime"
	"testing"
)

// The exec helper keeps what it needs to become the app beside the app's
// own capabilities.
func TestHelperCapabilities(t *testing.T) {
	s := &Spec{Name: "app", Capabilities: []string{"CAP_NET_BIND_SERVICE"}, Confined: true, NewPrivileges: true}
	caps, err := s.HelperCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	if got := CapabilityBits(caps); got != 1<<10|1<<8|1<<7|1<<6|1<<21 {
		t.Errorf("helper capabilities %#x", got)
	}
}

// parseCapBnd reads the bounding set of a status file, and every
// capability where it cannot.
func TestParseCapBnd(t *testing.T) {
	for in, want := range map[string]uint64{
		"Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0\n": 0x1ffffffffff,
		"CapBnd:\t00000000a80425fb\n": 0xa80425fb,
		"CapBnd:\tzz\n":               ^uint64(0),
		"CapInh:\t0\n":                ^uint64(0),
		"":                            ^uint64(0),
	} {
		if got := parseCapBnd([]byte(in)); got != want {
			t.Errorf("parseCapBnd(%q) = %#x, want %#x", in, got, want)
		}
	}
}

// FuzzParseCapBnd: whatever the status file holds, a mask or every
// capability, and no panic.
func FuzzParseCapBnd(f *testing.F) {
	f.Add([]byte("CapBnd:\t000001ffffffffff\n"))
	f.Add([]byte("CapBnd: x\nCapBnd:\t1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseCapBnd(b)
	})
}

// Dropped twice on one thread, first to what the exec helper may become
// and then to the app's own, the bounding set is the app's: the second
// drop, which skips what the first took, misses nothing.
func TestDropCapabilitiesTwice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test drops capabilities from a thread and must run as root")
	}
	s := &Spec{Name: "app", Confined: true, NewPrivileges: true}
	helper, err := s.HelperCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.CapabilitySet()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		// Never given back: the thread ends with the goroutine.
		runtime.LockOSThread()
		start := boundingSet()
		if err := DropCapabilities(helper); err != nil {
			done <- err
			return
		}
		if got, want := boundingSet(), start&CapabilityBits(helper); got != want {
			done <- fmt.Errorf("after the helper's drop: bounding set %#x, want %#x", got, want)
			return
		}
		if err := DropCapabilities(app); err != nil {
			done <- err
			return
		}
		if got, want := boundingSet(), start&CapabilityBits(app); got != want {
			done <- fmt.Errorf("after the app's drop: bounding set %#x, want %#x", got, want)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
