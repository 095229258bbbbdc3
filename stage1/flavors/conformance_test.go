package flavors_test

import (
	"os"
	"runtime"
	"testing"

	"podctl/stage1/conformance"
	"podctl/stage1/flavors"
)

func init() {
	// The main goroutine keeps the main thread, so that no other runs
	// there. Entering an app (stage0.Enter) joins the app's namespaces and
	// cgroups on a thread that ends with its goroutine; the runtime cannot
	// end the main thread, and would leave it in the pod.
	runtime.LockOSThread()
}

func TestMain(m *testing.M) {
	// The suite executes this binary again as the stage1 of each pod.
	if code, ok := conformance.PodMain(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestConformance runs the stage1 conformance suite against every flavor
// built into podctl, the flavors in parallel.
func TestConformance(t *testing.T) {
	cfg := conformance.Setup(t)
	for _, name := range flavors.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conformance.Run(t, name, cfg)
		})
	}
}
