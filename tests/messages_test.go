package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnterPausedPod(t *testing.T) { forEachFlavor(t, testEnterPausedPod) }

func testEnterPausedPod(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	e.must("pause", uuid)
	r, ended := e.podctlWithin(60*time.Second, "enter", uuid, "/bin/true")
	if !ended {
		t.Fatalf("enter of a paused pod hung: %s", r)
	}
	checkRefused(t, "enter of a paused pod", r, "pod "+uuid+" is paused: resume it first (podctl resume "+uuid+")")
	e.must("resume", uuid)
	if r := e.enterUntil(uuid, "/bin/true"); r.code != 0 {
		t.Errorf("enter after resume: %s", r)
	}
	e.must("stop", "--grace-period=5s", uuid)
	cmd.Wait()
}

func TestEnterSignalStatus(t *testing.T) { forEachFlavor(t, testEnterSignalStatus) }

func testEnterSignalStatus(t *testing.T, e *env) {
	e.fetchBusybox()
	cmd, uuid := e.startPod("example.com/busybox", "--exec", "/bin/sleep", "--", "600")
	if r := e.enterUntil(uuid, "/bin/true"); r.code != 0 {
		t.Fatalf("enter: %s", r)
	}
	for _, c := range []struct {
		sig  string
		want int
	}{{"9", 137}, {"15", 143}} {
		r := e.podctl("enter", uuid, "/bin/sh", "-c", "kill -"+c.sig+" $$")
		if r.code != c.want {
			t.Errorf("enter of a command killed by signal %s: want exit %d, got %s", c.sig, c.want, r)
		}
	}
	e.must("stop", "--grace-period=5s", uuid)
	cmd.Wait()
}

func TestMissingWorkingDir(t *testing.T) { forEachFlavor(t, testMissingWorkingDir) }

func testMissingWorkingDir(t *testing.T, e *env) {
	e.fetchBusybox()
	r, ended := e.podctlWithin(120*time.Second, "run", "example.com/busybox", "--working-dir", "/nowhere", "--exec", "/bin/pwd")
	if !ended {
		t.Fatalf("run with a missing working directory hung: %s", r)
	}
	want := "app busybox: working directory /nowhere does not exist in the image"
	if r.code == 0 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "fork/exec") || strings.Contains(r.stderr, "app busybox: app busybox") {
		t.Errorf("run with a missing working directory: want %q, got %s", want, r)
	}
}

func TestDirectoryAsImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	checkRefused(t, "a directory as the image", e.podctl("run", "--insecure-options=image", dir), "podctl image import "+dir)
	if pods := e.podDirs(); len(pods) != 0 {
		t.Fatalf("the refused run left pods: %v", pods)
	}
}

func TestUUIDFileSaveMissingFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchBusybox()
	missing := filepath.Join(t.TempDir(), "nope", "uuid")
	for _, verb := range []string{"prepare", "run"} {
		r := e.podctl(verb, "--uuid-file-save", missing, "example.com/busybox", "--exec", "/bin/true")
		checkRefused(t, verb+" --uuid-file-save into a missing folder", r, "--uuid-file-save")
		if !strings.Contains(r.stderr, filepath.Dir(missing)) || strings.Contains(r.stderr, ".tmp") {
			t.Errorf("%s: want the missing folder named, not a temporary file: %q", verb, r.stderr)
		}
	}
	if pods := e.podDirs(); len(pods) != 0 {
		t.Fatalf("the refused requests left pods: %v", pods)
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Fatal("the missing folder was made")
	}
}

// A program whose dynamic loader, or a script whose interpreter, the
// image lacks is named as what is missing, not as the program missing.
func TestMissingInterpreter(t *testing.T) { forEachFlavor(t, testMissingInterpreter) }

func testMissingInterpreter(t *testing.T, e *env) {
	dynamic, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	aci := filepath.Join(t.TempDir(), "interp.aci")
	if err := writeBusyboxACI(aci, "example.com/interp", map[string]string{
		"bin/dynamic": string(dynamic),
		"bin/script":  "#!/usr/bin/python3\nprint('hello')\n",
	}); err != nil {
		t.Fatal(err)
	}
	e.must("fetch", "--insecure-options=image", aci)
	for _, c := range []struct{ exec, want string }{
		{"/bin/dynamic", "podctl: app interp: /bin/dynamic needs the dynamic loader /lib64/ld-linux-x86-64.so.2, which the image does not have"},
		{"/bin/script", "podctl: app interp: /bin/script is a script for /usr/bin/python3, which the image does not have"},
	} {
		r, ended := e.podctlWithin(120*time.Second, "run", "example.com/interp", "--exec", c.exec)
		if !ended {
			t.Fatalf("run of %s hung: %s", c.exec, r)
		}
		if r.code != 254 || strings.TrimSpace(r.stderr) != c.want {
			t.Errorf("run of %s: want exit 254 and the one line %q, got %s", c.exec, c.want, r)
		}
	}
}
