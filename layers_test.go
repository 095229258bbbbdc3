package main

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// layers are podctl's packages from the top down (Documentation/devel/
// architecture.md draws them): a package imports only packages of lower
// layers, so that every import goes one way.
var layers = [][]string{
	{"podctl", "cmd/podctl-fetch", "cmd/podctl-mds", "cmd/podctl-exec"},
	{"cli", "stage1/conformance"},
	{"apply"},
	{"stage0"},
	{"stage1/flavors"},
	{"stage1/fly", "stage1/native", "stage1/systemd"},
	{"stage1/kit"},
	{"stage1", "stage1/console", "stage1/logs", "stats", "store", "podfile"},
	{"stage1/appexec"},
	{"cgroup", "lifecycle", "network", "stage1/seccomp"},
	{"events", "stage1/seccomp/profile", "internal/mds"},
	{"datadir", "stage1/seccomp/custom", "internal/errdefs", "internal/flock", "internal/layout", "internal/manifest",
		"internal/match", "internal/passwd", "internal/timefmt", "internal/trace", "internal/fetchhelper", "internal/progress",
		"internal/rootless", "internal/resident"},
	{"internal/fsutil", "internal/version", "internal/checktest"},
}

func TestImportsGoOneWay(t *testing.T) {
	layer := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			layer[p] = i
		}
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (name == "tests" || name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.Dir(path)
		if pkg == "." {
			pkg = "podctl"
		}
		from, ok := layer[pkg]
		if !ok {
			if !seen[pkg] {
				t.Errorf("package %s has no layer: place it in layers", pkg)
				seen[pkg] = true
			}
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			target := strings.Trim(imp.Path.Value, `"`)
			dep, ok := strings.CutPrefix(target, "podctl/")
			if !ok {
				continue
			}
			if to, known := layer[dep]; known && to <= from {
				t.Errorf("%s imports %s, which is not below it", path, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The binary every pod start executes links no registry, TLS or OpenPGP
// code: each costs every start its initialisation (DESIGN.md). They live
// in cmd/podctl-fetch.
func TestStartPathIsLean(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"net/http", "crypto/tls", "github.com/google/go-containerregistry", "github.com/ProtonMail/go-crypto", "golang.org/x/crypto/openpgp",
			// Decoders, and the seccomp assembler's syscall tables, whose
			// initialisation every podctl process would pay.
			"github.com/klauspost/compress/zstd", "github.com/ulikunitz/xz", "github.com/elastic/go-seccomp-bpf"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("podctl links %s: keep it in cmd/podctl-fetch", dep)
			}
		}
	}
}
