package lifecycle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"podctl/internal/layout"
	"podctl/internal/version"
)

// preparedPod makes a prepared pod and returns its UUID.
func preparedPod(t *testing.T, d string) string {
	t.Helper()
	p := mustNewPod(t, d)
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	return p.UUID
}

func openUUID(t *testing.T, d, id string) *Pod {
	t.Helper()
	p, err := PodFromUUIDString(d, id)
	if err != nil {
		t.Fatalf("a pod of any layout opens: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestLayoutWrittenAtCreation(t *testing.T) {
	d := newDataDir(t)
	p := mustNewPod(t, d)
	b, err := p.ReadFile(FileLayout)
	if err != nil {
		t.Fatalf("a new pod has no layout file: %v", err)
	}
	r, err := layout.Parse(b)
	if err != nil || r.Layout != LayoutVersion || r.WrittenBy != "podctl "+version.Podctl {
		t.Fatalf("a new pod's layout file holds %q (%+v, %v)", b, r, err)
	}
	if err := p.CheckLayout(); err != nil {
		t.Fatal(err)
	}
}

// Pods made before layout versions have no layout file: version 1.
func TestLayoutMissingIsVersion1(t *testing.T) {
	d := newDataDir(t)
	id := preparedPod(t, d)
	p := openUUID(t, d, id)
	if err := os.Remove(filepath.Join(p.Path(), FileLayout)); err != nil {
		t.Fatal(err)
	}
	p = openUUID(t, d, id)
	if err := p.CheckLayout(); err != nil {
		t.Fatalf("a pod without a layout file: %v", err)
	}
	if err := p.TryExclusiveLock(); err != nil {
		t.Fatalf("a pod without a layout file cannot be locked: %v", err)
	}
	if err := p.ToGarbage(); err != nil {
		t.Fatal(err)
	}
}

func TestLayoutNewerRefused(t *testing.T) {
	d := newDataDir(t)
	id := preparedPod(t, d)
	p := openUUID(t, d, id)
	writePodFile(t, p, FileLayout, []byte(`{"layout":2,"written_by":"podctl 0.9.0"}`))

	var walked []*Pod
	if err := WalkPods(d, IncludeAllDirs, func(q *Pod) {
		if q.CheckLayout() == nil {
			t.Errorf("walked pod %s of layout 2 has no layout error", q.UUID)
		}
		walked = append(walked, q)
	}); err != nil || len(walked) != 1 {
		t.Fatalf("a pod of layout 2 is not walked: %d pods, %v", len(walked), err)
	}

	p = openUUID(t, d, id)
	if p.State() != Prepared {
		t.Fatalf("state %s, want prepared", p.State())
	}
	want := "pod " + id + " has layout version 2, written by podctl 0.9.0; this podctl (" + version.Podctl + ") knows version 1: use a newer podctl"
	err := p.CheckLayout()
	var newer *layout.NewerError
	if !errors.As(err, &newer) || err.Error() != want {
		t.Fatalf("CheckLayout = %v, want %q", err, want)
	}
	if err := p.TryExclusiveLock(); err == nil || err.Error() != want {
		t.Fatalf("TryExclusiveLock of a pod of layout 2 = %v, want %q", err, want)
	}
	if err := p.ToGarbage(); err == nil {
		t.Fatal("a pod of layout 2 was marked for collection")
	}
	if s := stateOfUUID(t, d, id); s != Prepared {
		t.Fatalf("the pod is %s after the refusals, want prepared", s)
	}
}

func TestLayoutDamagedRefused(t *testing.T) {
	d := newDataDir(t)
	id := preparedPod(t, d)
	p := openUUID(t, d, id)
	writePodFile(t, p, FileLayout, []byte("{\"layout\":\n"))
	p = openUUID(t, d, id)
	err := p.CheckLayout()
	var damaged *layout.DamagedError
	if !errors.As(err, &damaged) {
		t.Fatalf("CheckLayout of a damaged layout file = %v", err)
	}
	checkOneLine(t, err)
	if !strings.HasPrefix(err.Error(), "pod "+id+" has a layout file ") {
		t.Fatalf("%q does not name the pod", err)
	}
	if err := p.TryExclusiveLock(); err == nil {
		t.Fatal("a pod with a damaged layout file was locked")
	}
}

// FuzzLayout reads the pod's layout file as every command opening the pod
// does: any content gives version 1 (the one known) or a one-line refusal
// naming the pod, and a refused pod cannot be locked.
func FuzzLayout(f *testing.F) {
	f.Add([]byte(`{"layout":1,"written_by":"podctl 0.1.0-dev"}` + "\n"))
	f.Add([]byte(`{"layout":2,"written_by":"podctl 0.9.0"}`))
	f.Add([]byte(`{"layout":1,"written_by":"a\nb"}`))
	f.Add([]byte(`{"layout":0}`))
	p := exitedPod(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		writePodFile(t, p, FileLayout, data)
		q, err := PodFromUUIDString(p.DataDir(), p.UUID)
		if err != nil {
			t.Fatalf("a pod with any layout file opens: %v", err)
		}
		defer q.Close()
		err = q.CheckLayout()
		if err == nil {
			r, perr := layout.Parse(data)
			if perr != nil || r.Layout != 1 {
				t.Fatalf("%q accepted as a known layout (%+v, %v)", data, r, perr)
			}
			return
		}
		checkOneLine(t, err)
		if !strings.HasPrefix(err.Error(), "pod "+p.UUID+" ") {
			t.Fatalf("error %q does not name the pod", err)
		}
		if err := q.TryExclusiveLock(); err == nil {
			q.Unlock()
			t.Fatal("a pod of an unknown layout was locked")
		}
	})
}
