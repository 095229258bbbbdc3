package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePodManifest writes a pod manifest file and returns its path.
func writePodManifest(t *testing.T, manifest string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pod.json")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// run --pod-manifest runs the pod the manifest describes, in every
// flavor: its apps' exec, environment, user and group, supplementary
// groups and isolators, its volumes and mounts, its annotations; an app
// without an app section runs its image's.
func TestRunPodManifest(t *testing.T) { forEachFlavor(t, testRunPodManifest) }

func testRunPodManifest(t *testing.T, e *env) {
	ace := e.fetchAce("1.0")
	e.fetchBusybox()
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "note"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11",
"apps":[
 {"name":"custom","image":{"id":%q},
  "app":{"exec":["/bin/sh","-c","echo app=custom uid=$(id -u) gid=$(id -g) groups=$(id -G | tr ' ' ,) oom=$(cat /proc/self/oom_score_adj) X=$X note=$(cat /host/note) && touch /scratch/made"],
   "user":"65534","group":"/owned","supplementaryGIDs":[11,12],
   "environment":[{"name":"X","value":"manifest"}],
   "isolators":[{"name":"os/linux/oom-score-adj","value":222}]},
  "mounts":[{"volume":"host","path":"/host"},{"volume":"scratch","path":"/scratch"}]},
 {"name":"image-app","image":{"id":%q}},
 {"name":"later","image":{"name":"example.com/busybox"},
  "app":{"exec":["/bin/sh","-c","echo app=later"],"user":"0","group":"0"},
  "mounts":[{"volume":"scratch","path":"/scratch"}]}
],
"volumes":[{"name":"host","kind":"host","source":%q,"readOnly":true},{"name":"scratch","kind":"empty","uid":65534,"gid":65534}],
"userAnnotations":{"purpose":"test"}}`, ace, ace, hostDir)
	path := writePodManifest(t, manifest)
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	r := e.podctl("run", "--uuid-file-save", uuidFile, "--pod-manifest", path)
	if r.code != 0 {
		t.Fatalf("run --pod-manifest: %s", r)
	}
	lines := aceLines(t, r.stdout)
	wantFields(t, "app custom", lines["custom"], "uid=65534", "gid=5678", "groups=5678,11,12", "oom=222", "X=manifest", "note=from", "host")
	// The image's own app: its user, groups and isolator.
	wantFields(t, "app image-app", lines["image-app"], "uid=1234", "gid=5678", "groups=5678,4242", "oom=345")
	if _, ok := lines["later"]; !ok {
		t.Errorf("app later printed nothing: %s", r)
	}
	got := e.must("cat-manifest", "--uuid-file", uuidFile)
	for _, want := range []string{`"purpose": "test"`, `"name": "example.com/busybox"`, `"name": "image-app"`, `"exec": [`} {
		if !strings.Contains(got, want) {
			t.Errorf("the pod's manifest lacks %s:\n%s", want, got)
		}
	}
}

// prepare --pod-manifest makes a prepared pod that run-prepared runs, and
// --name names it.
func TestPreparePodManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	bb := e.fetchBusybox()
	path := writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"only","image":{"id":%q},"app":{"exec":["/bin/sh","-c","exit 7"],"user":"0","group":"0"}}]}`, bb))
	uuid := lastLine(e.must("prepare", "--name", "from-manifest", "--pod-manifest", path))
	if st := e.status(uuid); st.State != "prepared" {
		t.Fatalf("pod %s is %s, want prepared", uuid, st.State)
	}
	if r := e.podctl("run-prepared", "from-manifest"); r.code != 7 {
		t.Fatalf("run-prepared: want exit 7: %s", r)
	}
}

// --pod-manifest refuses images and the flags whose settings the manifest
// holds, and manifests it cannot run, in one line, before a pod exists.
func TestPodManifestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	bb := e.fetchBusybox()
	good := writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q}}]}`, bb))
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		want string
		args []string
	}{
		{"conflicting flags set with --pod-manifest", []string{"run", "--pod-manifest", good, "example.com/busybox"}},
		{"conflicting flags set with --pod-manifest: [--exec]", []string{"run", "--exec", "/bin/true", "--pod-manifest", good}},
		{"conflicting flags set with --pod-manifest: [--volume]", []string{"prepare", "--volume", "v,kind=empty", "--pod-manifest", good}},
		{"conflicting flags set with --pod-manifest: [--set-env]", []string{"run", "--set-env", "A=1", "--pod-manifest", good}},
		{"conflicting flags set with --pod-manifest: [--inherit-env]", []string{"run", "--inherit-env", "--pod-manifest", good}},
		{"conflicting flags set with --pod-manifest: [--port]", []string{"run", "--port", "8080:80", "--pod-manifest", good}},
		{"--pod-manifest " + missing, []string{"run", "--pod-manifest", missing}},
		{"not an appc pod manifest", []string{"run", "--pod-manifest", writePodManifest(t, `{"acKind":"PodManifest"`)}},
		{"no apps", []string{"run", "--pod-manifest", writePodManifest(t, `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[]}`)}},
		{"only podctl sets", []string{"run", "--pod-manifest", writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q},"annotations":[{"name":"podctl.io/secret-env","value":"{}"}]}]}`, bb))}},
		{"fetch it first", []string{"run", "--pod-manifest", writePodManifest(t, `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":"sha512-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}]}`)}},
		{"no user", []string{"run", "--pod-manifest", writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q},"app":{"exec":["/bin/true"],"user":"nosuch","group":"0"}}]}`, bb))}},
		{"mounts volume", []string{"run", "--pod-manifest", writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q},"mounts":[{"volume":"v","path":"/v"}]}]}`, bb))}},
		{"below 6Mi", []string{"run", "--pod-manifest", writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q},"app":{"exec":["/bin/true"],"user":"0","group":"0","isolators":[{"name":"resource/memory","value":{"limit":"1M"}}]}}]}`, bb))}},
		{"below 10m", []string{"run", "--pod-manifest", writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q},"app":{"exec":["/bin/true"],"user":"0","group":"0","isolators":[{"name":"resource/cpu","value":{"limit":"5m"}}]}}]}`, bb))}},
	} {
		e.refused(c.want, c.args...)
	}
	e.noPods()
}

// An app of a pod manifest that runs its image's app is confined as the
// image's app always is: the image cannot lift no_new_privs; the manifest's
// own app section can, as --no-new-privileges=false can.
func TestPodManifestImageCannotLiftNoNewPrivs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	app := `{"exec":["/bin/grep","NoNewPrivs","/proc/self/status"],"user":"0","group":"0","isolators":[{"name":"os/linux/no-new-privileges","value":false}]}`
	aci := filepath.Join(t.TempDir(), "nnp.aci")
	writeCustomACI(t, aci, "example.com/nnp", "1.0", app, nil)
	id := strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", aci))
	r := e.podctl("run", "--pod-manifest", writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q}}]}`, id)))
	if r.code != 0 || !strings.Contains(r.stdout, "NoNewPrivs:\t1") {
		t.Errorf("the image's app lifted no_new_privs: %s", r)
	}
	r = e.podctl("run", "--pod-manifest", writePodManifest(t, fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":%q},"app":%s}]}`, id, app)))
	if r.code != 0 || !strings.Contains(r.stdout, "NoNewPrivs:\t0") {
		t.Errorf("the manifest's own app section did not lift no_new_privs: %s", r)
	}
}
