package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The appc ACE validator's two images, built once for the run from the
// appc/spec module podctl uses (its ace folder holds the validator's
// main and image manifests), with the module's own actool, as appc's
// scripts/build-ace-validator-acis builds them.
var (
	aceValidatorOnce              sync.Once
	aceValidatorMain, aceSidekick string
	aceValidatorErr               error
)

// buildACEValidator builds bin/ace-validator-main.aci and
// ace-validator-sidekick.aci into a folder of the test run.
func buildACEValidator() (string, string, error) {
	aceValidatorOnce.Do(func() {
		aceValidatorErr = func() error {
			dir, err := os.MkdirTemp("", "podctl-ace-")
			if err != nil {
				return err
			}
			validator, actool := filepath.Join(dir, "ace-validator"), filepath.Join(dir, "actool")
			if err := buildStatic(validator, "github.com/appc/spec/ace"); err != nil {
				return fmt.Errorf("building the ACE validator: %w", err)
			}
			if err := buildStatic(actool, "github.com/appc/spec/actool"); err != nil {
				return fmt.Errorf("building actool: %w", err)
			}
			out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/appc/spec").Output()
			if err != nil {
				return fmt.Errorf("finding the appc/spec module: %w", err)
			}
			spec := strings.TrimSpace(string(out))
			arch := runtime.GOARCH
			if arch == "arm64" {
				arch = "aarch64"
			}
			for _, typ := range []string{"main", "sidekick"} {
				layout := filepath.Join(dir, "ace-validator-"+typ+"-layout")
				if err := os.MkdirAll(filepath.Join(layout, "rootfs", "opt", "acvalidator"), 0o755); err != nil {
					return err
				}
				bin, err := os.ReadFile(validator)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(layout, "rootfs", "ace-validator"), bin, 0o755); err != nil {
					return err
				}
				in, err := os.ReadFile(filepath.Join(spec, "ace", "image_manifest_"+typ+".json.in"))
				if err != nil {
					return err
				}
				m := strings.NewReplacer("@ACI_OS@", runtime.GOOS, "@ACI_ARCH@", arch).Replace(string(in))
				if err := os.WriteFile(filepath.Join(layout, "manifest"), []byte(m), 0o644); err != nil {
					return err
				}
				aci := filepath.Join(dir, "ace-validator-"+typ+".aci")
				build := exec.Command(actool, "build", "--overwrite", layout, aci)
				if b, err := build.CombinedOutput(); err != nil {
					return fmt.Errorf("actool build %s: %v: %s", typ, err, b)
				}
			}
			aceValidatorMain = filepath.Join(dir, "ace-validator-main.aci")
			aceSidekick = filepath.Join(dir, "ace-validator-sidekick.aci")
			return nil
		}()
	})
	return aceValidatorMain, aceSidekick, aceValidatorErr
}

// The appc ACE validator passes its four stages (pre-start, main,
// sidekick, post-stop) in a pod of the isolated flavors, run with rkt's
// command line and the metadata service. fly cannot host it: it has no
// network namespace of the pod's own for the metadata service (podctl
// refuses --mds-register there) and shares the host's root, where the
// validator writes. On failure, the validator's whole output is shown.
func TestACEValidator(t *testing.T) {
	mainACI, sidekickACI, err := buildACEValidator()
	if err != nil {
		t.Fatal(err)
	}
	forEachIsolatedFlavor(t, func(t *testing.T, e *env) {
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		start := time.Now()
		r := e.podctl("run", "--uuid-file-save", uuidFile, "--insecure-options=image", "--mds-register",
			"--volume", "database,kind=empty", mainACI, "---", sidekickACI)
		t.Logf("the validator's pod ran for %v", time.Since(start).Round(time.Millisecond))
		logs := ""
		if b, err := os.ReadFile(uuidFile); err == nil {
			for _, app := range []string{"ace-validator-main", "ace-validator-sidekick"} {
				l := e.podctl("logs", "--app", app, string(b))
				logs += "[" + app + "]\n" + l.stdout + l.stderr
			}
		}
		all := r.stdout + r.stderr + logs
		var missing []string
		for _, stage := range []string{"prestart", "main", "sidekick", "poststop"} {
			if !strings.Contains(all, stage+" OK") {
				missing = append(missing, stage)
			}
		}
		if r.code != 0 || len(missing) > 0 || strings.Contains(all, " FAIL") {
			t.Fatalf("the ACE validator failed: exit %d, no OK from %v\n--- podctl run's output:\n%s\n--- its errors:\n%s\n--- podctl logs:\n%s",
				r.code, missing, r.stdout, r.stderr, logs)
		}
	})
}
