package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
)

// A state folder holding what podctl never puts there (a file or a symlink
// named as a pod, a folder whose name is no UUID) neither stops a walk nor
// shows up in it.
func TestWalkSkipsWhatIsNoPod(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	prepared := folderPath(d, preparedDir)
	junk := map[string]func(string) error{
		"0e514951-d2d5-41fb-8452-9bdc90e1581f":   func(path string) error { return os.WriteFile(path, []byte("x"), 0o600) },
		"1e514951-d2d5-41fb-8452-9bdc90e1581f":   func(path string) error { return os.Symlink("/", path) },
		"2e514951-d2d5-41fb-8452-9bdc90e1581f":   func(path string) error { return os.Symlink(p.Path(), path) },
		"3E514951-D2D5-41FB-8452-9BDC90E1581F":   func(path string) error { return os.Mkdir(path, 0o700) },
		"x":                                      func(path string) error { return os.Mkdir(path, 0o700) },
		"{3e514951-d2d5-41fb-8452-9bdc90e1581f}": func(path string) error { return os.Mkdir(path, 0o700) },
	}
	for name, make := range junk {
		if err := make(filepath.Join(prepared, name)); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	if err := WalkPods(d, IncludeAllDirs, func(q *Pod) { seen = append(seen, q.UUID) }); err != nil {
		t.Fatalf("WalkPods: %v", err)
	}
	if len(seen) != 1 || seen[0] != p.UUID {
		t.Errorf("WalkPods saw %v, want only %s", seen, p.UUID)
	}
	got := map[int]string{}
	if err := WalkPodsConcurrently(d, IncludeAllDirs, func(i int, q *Pod) { got[i] = q.UUID }); err != nil {
		t.Fatalf("WalkPodsConcurrently: %v", err)
	}
	var all []string
	for _, id := range got {
		all = append(all, id)
	}
	if len(all) != 1 || all[0] != p.UUID {
		t.Errorf("WalkPodsConcurrently saw %v, want only %s", got, p.UUID)
	}
}
