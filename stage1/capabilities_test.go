package stage1

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
)

func TestParseCapability(t *testing.T) {
	for _, name := range []string{"CAP_NET_ADMIN", "net_admin", "Cap_Net_Admin", " NET_ADMIN "} {
		if c, err := ParseCapability(name); err != nil || c != capability.CAP_NET_ADMIN {
			t.Errorf("ParseCapability(%q) = %v, %v", name, c, err)
		}
	}
	for _, name := range []string{"", "CAP_", "NET-ADMIN", "cap_bogus", "ALL"} {
		if _, err := ParseCapability(name); err == nil || !strings.Contains(err.Error(), "such as CAP_NET_BIND_SERVICE") {
			t.Errorf("ParseCapability(%q) = %v, want a refusal saying how to spell names", name, err)
		}
	}
	if got := CapabilityNames([]capability.Cap{capability.CAP_CHOWN, capability.CAP_SYS_ADMIN}); !slices.Equal(got, []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}) {
		t.Errorf("CapabilityNames = %v", got)
	}
}

func isolators(t *testing.T, js string) types.Isolators {
	t.Helper()
	var isos types.Isolators
	if err := json.Unmarshal([]byte(js), &isos); err != nil {
		t.Fatal(err)
	}
	return isos
}

func TestAppCapabilities(t *testing.T) {
	caps, ok, err := AppCapabilities(nil)
	if caps != nil || ok || err != nil {
		t.Errorf("no isolator: %v %v %v, want the default", caps, ok, err)
	}
	caps, ok, err = AppCapabilities(isolators(t, `[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_BIND_SERVICE","sys_admin"]}}]`))
	if !ok || err != nil || !slices.Equal(caps, []capability.Cap{capability.CAP_NET_BIND_SERVICE, capability.CAP_SYS_ADMIN}) {
		t.Errorf("retain set: %v %v %v", caps, ok, err)
	}
	caps, _, err = AppCapabilities(isolators(t, `[{"name":"os/linux/capabilities-remove-set","value":{"set":["CAP_CHOWN"]}}]`))
	if err != nil || len(caps) != len(DefaultCapabilities)-1 || slices.Contains(caps, capability.CAP_CHOWN) {
		t.Errorf("remove set: %v %v", caps, err)
	}
	if _, _, err := AppCapabilities(isolators(t, `[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_BOGUS"]}}]`)); err == nil {
		t.Error("an unknown capability in an isolator was taken")
	}
}
