package appexec

import "testing"

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
