package network

import (
	"os"
	"strings"
	"testing"
)

func mountinfoMentions(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

func TestNetNS(t *testing.T) {
	t.Parallel()
	needRoot(t)
	env := Env{DataDir: t.TempDir()}
	const id = "5eed0000-0000-4000-8000-000000000000"
	path, err := env.NewNetNS(id)
	if err != nil {
		t.Fatal(err)
	}
	if !mountinfoMentions(t, path) || !isNetNS(path) {
		t.Fatalf("%s is not a mounted namespace", path)
	}
	if host, err := os.Readlink("/proc/self/ns/net"); err != nil || host == "" {
		t.Fatalf("host namespace: %v", err)
	}
	if out := run(t, "nsenter", "--net="+path, "ip", "-o", "link", "show"); !strings.Contains(out, "lo: <LOOPBACK,UP,LOWER_UP>") || strings.Count(out, "\n") != 1 {
		t.Errorf("the namespace should hold lo alone, up: %s", out)
	}
	if _, err := env.NewNetNS(id); err == nil {
		t.Error("a second namespace of the same pod was made")
	}
	if err := env.RemoveNetNS(id); err != nil {
		t.Fatal(err)
	}
	if mountinfoMentions(t, path) {
		t.Errorf("%s is still mounted", path)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", path, err)
	}
	if err := env.RemoveNetNS(id); err != nil {
		t.Errorf("removing it again: %v", err)
	}
	if _, err := env.NewNetNS("../x"); err == nil {
		t.Error("a namespace named ../x was made")
	}
}

// Many namespaces made at once from many goroutines: each thread goes back
// to the host's namespace.
func TestNetNSThreadsGoBack(t *testing.T) {
	t.Parallel()
	needRoot(t)
	env := Env{DataDir: t.TempDir()}
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"}
	errc := make(chan error, len(ids))
	for _, id := range ids {
		go func() {
			_, err := env.NewNetNS(id)
			errc <- err
		}()
	}
	for range ids {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	for _, id := range ids {
		if err := env.RemoveNetNS(id); err != nil {
			t.Error(err)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && ns != host {
			t.Errorf("thread %s is in %s, not the host's %s", task.Name(), ns, host)
		}
	}
}
