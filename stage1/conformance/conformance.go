// Package conformance is the suite every stage1 flavor passes, as
// containerd's snapshots/testsuite is for snapshotters: Run drives one
// flavor through the same named checks, each a subtest, with the Go API of
// stage0 and of the flavor only, never the podctl command.
//
// Run makes real pods, as root. A pod's stage1 is the process that runs
// it, and catches signals: each pod runs in a child process, the test
// binary executed again, which prepares the pod and becomes its stage1
// (stage0.PrepareAndRun) and exits with the pod's code. The test binary's
// TestMain must therefore call PodMain first. Its init must lock the main
// goroutine to the main thread: stage0.Enter joins an app's namespaces and
// cgroups on a thread that ends with its goroutine, and the runtime never
// ends the main thread, which would stay in the pod (the Enter check
// fails then).
//
//	func init() { runtime.LockOSThread() }
//
//	func TestMain(m *testing.M) {
//		if code, ok := conformance.PodMain(); ok {
//			os.Exit(code)
//		}
//		os.Exit(m.Run())
//	}
//
//	func TestConformance(t *testing.T) {
//		cfg := conformance.Setup(t)
//		for _, name := range flavors.Names() {
//			t.Run(name, func(t *testing.T) {
//				t.Parallel()
//				conformance.Run(t, name, cfg)
//			})
//		}
//	}
//
// Flavors execute the podctl binary for their helpers, and entering an app
// executes it inside the app's root: Setup builds a static podctl and
// points flavors.Self and kit.SelfExe at it, in the test process and in
// every pod's child.
package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"podctl/stage1/flavors"
	"podctl/stage1/kit"
)

// Config is what the checks need, made once per test binary by Setup.
type Config struct {
	// Podctl is a static podctl binary, which the flavors execute for
	// their helpers.
	Podctl string
	// Image is an uncompressed ACI of busybox-static (WriteImage).
	Image string
}

// Setup builds a static podctl and the busybox image into a temporary
// folder of t, and points flavors.Self and kit.SelfExe at the binary. It
// fails t unless the test runs as root, or skips it if
// PODCTL_SKIP_ROOT_TESTS=1 asks to.
func Setup(t testing.TB) Config {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("PODCTL_SKIP_ROOT_TESTS") == "1" {
			t.Skip("the stage1 conformance suite runs pods as root; skipped because PODCTL_SKIP_ROOT_TESTS=1")
		}
		t.Fatal("the stage1 conformance suite runs pods and must run as root (CI runs it as root); set PODCTL_SKIP_ROOT_TESTS=1 to skip it")
	}
	dir := t.TempDir()
	cfg := Config{Podctl: filepath.Join(dir, "podctl"), Image: filepath.Join(dir, "busybox.aci")}
	// Static: helpers run in pods' roots, where no C library is.
	build := exec.Command("go", "build", "-o", cfg.Podctl, "podctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building podctl: %v\n%s", err, out)
	}
	if err := WriteImage(cfg.Image); err != nil {
		t.Fatalf("making the busybox image: %v", err)
	}
	useBinary(cfg.Podctl)
	if err := writeNetworks(t, dir); err != nil {
		t.Fatalf("writing the suite's networks: %v", err)
	}
	return cfg
}

// useBinary makes bin the podctl that this process's flavors execute.
func useBinary(bin string) {
	flavors.Self = bin
	kit.SelfExe = bin
}

// check is one named check of the suite.
type check struct {
	name string
	run  func(t *testing.T, h *harness)
}

// checks are the suite, in the order Run runs them.
var checks = []check{
	{"ExitZero", checkExitZero},
	{"ExitCode", checkExitCode},
	{"FailureCancelsOthers", checkFailureCancelsOthers},
	{"ReadyMeansRunning", checkReadyMeansRunning},
	{"Enter", checkEnter},
	{"PauseResume", checkPauseResume},
	{"Stop", checkStop},
	{"StopForce", checkStopForce},
	{"KillLeftovers", checkKillLeftovers},
	{"GC", checkGC},
	{"NetworkDefault", checkNetworkDefault},
	{"NetworkNone", checkNetworkNone},
	{"NetworkHost", checkNetworkHost},
}

// Run runs every check against the flavor called flavor, one after the
// other, each as a subtest with a data directory of its own. A flavor that
// is not available on this host fails t.
func Run(t *testing.T, flavor string, cfg Config) {
	f, err := flavors.Get(flavor)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Available(); err != nil {
		t.Fatalf("flavor %s cannot run on this host: %v", flavor, err)
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newHarness(t, flavor, cfg))
		})
	}
}
