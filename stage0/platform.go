package stage0

import (
	"runtime"
	"slices"
	"strings"

	"github.com/appc/spec/schema"

	"podctl/internal/errdefs"
)

// appcArches maps Go's GOARCH to the appc arch labels of the images this
// host runs. ARM hosts run either hard-float little-endian flavor.
var appcArches = map[string][]string{
	"amd64":    {"amd64"},
	"386":      {"i386"},
	"arm64":    {"aarch64"},
	"arm":      {"armv7l", "armv6l"},
	"ppc64":    {"ppc64"},
	"ppc64le":  {"ppc64le"},
	"s390x":    {"s390x"},
	"riscv64":  {"riscv64"},
	"loong64":  {"loong64"},
	"mips64le": {"mips64le"},
}

// hostArches are the arch labels this host runs.
func hostArches() []string {
	if a, ok := appcArches[runtime.GOARCH]; ok {
		return a
	}
	return []string{runtime.GOARCH}
}

// checkPlatform refuses an image whose os or arch label (the ABI its
// programs need, in appc's names) this host is not. A missing label means
// any.
func checkPlatform(m *schema.ImageManifest) error {
	if os, ok := m.Labels.Get("os"); ok && os != runtime.GOOS {
		return errdefs.New(ErrUsage, "image %s is labelled os=%s, but this host runs %s: use an image built for os=%s", m.Name, os, runtime.GOOS, runtime.GOOS)
	}
	arches := hostArches()
	if arch, ok := m.Labels.Get("arch"); ok && !slices.Contains(arches, arch) {
		return errdefs.New(ErrUsage, "image %s is labelled arch=%s, but this host is %s: use an image built for arch=%s", m.Name, arch, strings.Join(arches, " or "), arches[0])
	}
	return nil
}
