package lifecycle

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPodFilesNamedOnce holds the rule of files.go: no package but this one
// names a file of a pod directory or one of podctl's annotations. It looks
// for the string literals that could only be one of them: paths, names
// with a dot or a dash, annotations.
func TestPodFilesNamedOnce(t *testing.T) {
	owned := map[string]bool{}
	// Single words ("pid", "ready") are too common to tell; paths and
	// names such as "exec.lock" are not.
	for _, f := range PodFiles {
		p := strings.TrimSuffix(f.Path, "/")
		if strings.Contains(p, "/") && !strings.Contains(p, "*") {
			owned[p] = true
		}
		if base := filepath.Base(p); strings.ContainsAny(base, ".-") {
			owned[base] = true
		}
	}
	for _, a := range []string{AnnotationName, AnnotationSecretEnv, AnnotationPidsLimit, AnnotationRlimits, AnnotationOOMScoreAdj, AnnotationReadOnlyRootfs, AnnotationDevices} {
		owned[a] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "lifecycle", "tests", "Documentation", ".git", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && (owned[s] || strings.HasPrefix(s, "podctl.io/")) {
				t.Errorf("%s names the pod's %q: use lifecycle's constant", fset.Position(lit.Pos()), s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every file has a writer, a format and a durability.
func TestPodFilesDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range PodFiles {
		if f.Path == "" || f.Writer == "" || f.Format == "" || f.Durability == "" {
			t.Errorf("%+v is not fully described", f)
		}
		if seen[f.Path] {
			t.Errorf("%s is listed twice", f.Path)
		}
		seen[f.Path] = true
	}
}
