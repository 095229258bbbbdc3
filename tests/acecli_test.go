package tests

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The App Container command line of rkt: images one after another,
// --user and --group by file, supplementary groups, the oom-score-adj
// isolator, --inherit-env and --set-env-file, cat-manifest --uuid-file and
// image list --fields.

// aceReport is what the ace image's app prints, on one line: its user,
// group, groups, oom_score_adj and the variables the tests set.
const aceReport = `echo "app=$AC_APP_NAME uid=$(id -u) gid=$(id -g) groups=$(id -G | tr ' ' ,) oom=$(cat /proc/self/oom_score_adj) INH=$INH IMG=$IMG OVER=$OVER BOTH=$BOTH MINE=$MINE"`

// writeAceACI writes the busybox image as name:version with an app that
// prints aceReport, runs as the owner and group of /owned (1234:5678),
// has the supplementary group 4242 and the os/linux/oom-score-adj
// isolator 345, and sets IMG and OVER.
func writeAceACI(t *testing.T, path, name, version string) {
	t.Helper()
	app := fmt.Sprintf(`{"exec":["/bin/sh","-c",%q],"user":"/owned","group":"/owned","supplementaryGIDs":[4242],
"environment":[{"name":"IMG","value":"image"},{"name":"OVER","value":"image"}],
"isolators":[{"name":"os/linux/oom-score-adj","value":345}]}`, aceReport)
	writeCustomACI(t, path, name, version, app, nil)
}

// writeCustomACI writes the busybox image as name:version with app as its
// manifest's app section, /owned (1234:5678), /bin/tr and the files of
// extra (path in the root to content; executable).
func writeCustomACI(t *testing.T, path, name, version, app string, extra map[string][]byte) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "base.aci")
	if err := writeBusyboxACI(base, name, map[string]string{"bin/tr": ""}); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":%q,
"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"},{"name":"version","value":%q}],
"app":%s}`, name, version, app)
	in, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(in)), tar.NewWriter(&out)
	write := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "manifest":
			body = []byte(manifest)
		case "rootfs/bin/tr":
			// busybox's tr, as a link like the other applets.
			h = &tar.Header{Name: h.Name, Typeflag: tar.TypeSymlink, Linkname: "busybox", ModTime: h.ModTime}
			body = nil
		}
		write(h, body)
	}
	mtime := time.Unix(1700000000, 0)
	write(&tar.Header{Name: "rootfs/owned", Mode: 0o600, Uid: 1234, Gid: 5678, Typeflag: tar.TypeReg, ModTime: mtime}, nil)
	for p, body := range extra {
		write(&tar.Header{Name: "rootfs/" + p, Mode: 0o755, Typeflag: tar.TypeReg, ModTime: mtime}, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fetchAce imports the ace image as example.com/ace:VERSION.
func (e *env) fetchAce(version string) string {
	e.t.Helper()
	aci := filepath.Join(e.t.TempDir(), "ace.aci")
	writeAceACI(e.t, aci, "example.com/ace", version)
	return strings.TrimSpace(e.must("fetch", "--full", "--insecure-options=image", aci))
}

// aceLines are the report lines of a run's output, by app.
func aceLines(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "app="); i >= 0 {
			l = l[i:]
			name, _, _ := strings.Cut(strings.TrimPrefix(l, "app="), " ")
			lines[name] = l
		}
	}
	return lines
}

// wantFields fails the test unless line holds each of want's words.
func wantFields(t *testing.T, what, line string, want ...string) {
	t.Helper()
	have := strings.Fields(line)
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			t.Errorf("%s: %q lacks %q", what, line, w)
		}
	}
}

// The image's user and group given as files, its supplementary groups and
// its oom-score-adj isolator reach the app in every flavor, and the flags
// replace them; the environment follows rkt's precedence: --inherit-env
// under the image, the image under --set-env-file, which is under
// --set-env and --environment.
func TestAceApp(t *testing.T) { forEachFlavor(t, testAceApp) }

func testAceApp(t *testing.T, e *env) {
	e.fetchAce("1.0")
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# the file's\nOVER=file\nBOTH=file\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.environ = append(e.environ, "INH=host", "IMG=host", "OVER=host")

	r := e.podctl("run", "example.com/ace")
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	// Without --inherit-env nothing of podctl's environment.
	wantFields(t, "the image's settings", aceLines(t, r.stdout)["ace"],
		"uid=1234", "gid=5678", "groups=5678,4242", "oom=345", "INH=", "IMG=image", "OVER=image", "BOTH=")

	r = e.podctl("run", "--inherit-env", "--set-env-file", envFile, "--set-env", "BOTH=flag",
		"example.com/ace", "--environment", "MINE=app", "--user", "/bin", "--group", "4321", "--supplementary-gids", "7,8", "--oom-score-adj", "500")
	if r.code != 0 {
		t.Fatalf("run with flags: %s", r)
	}
	wantFields(t, "the flags' settings", aceLines(t, r.stdout)["ace"],
		"uid=0", "gid=4321", "groups=4321,7,8", "oom=500", "INH=host", "IMG=image", "OVER=file", "BOTH=flag", "MINE=app")
}

// Images follow one another without "---", each with its own flags.
func TestAcePositionalImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	e.fetchAce("1.0")
	e.fetchBusybox()
	r := e.podctl("run", "--set-env=BOTH=all", "example.com/ace", "--name", "one", "--environment", "MINE=1",
		"example.com/ace", "--name", "two", "--supplementary-gids", "9",
		"example.com/busybox", "--exec", "/bin/sh", "--", "-c", `echo app=$AC_APP_NAME BOTH=$BOTH`,
		"---", "example.com/ace", "--name", "four")
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	lines := aceLines(t, r.stdout)
	if len(lines) != 4 {
		t.Fatalf("want 4 apps' lines, got %q", r.stdout)
	}
	wantFields(t, "app one", lines["one"], "MINE=1", "BOTH=all", "groups=5678,4242")
	wantFields(t, "app two", lines["two"], "MINE=", "BOTH=all", "groups=5678,9")
	wantFields(t, "app busybox", lines["busybox"], "BOTH=all")
	wantFields(t, "app four", lines["four"], "MINE=", "groups=5678,4242")
}

// cat-manifest reads the pod from --uuid-file, and the manifest shows the
// apps' users, groups and supplementary groups as given.
func TestAceCatManifestUUIDFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fetchAce("1.0")
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	uuid := lastLine(e.must("prepare", "--uuid-file-save", uuidFile, "example.com/ace", "--user", "/etc/passwd", "--supplementary-gids", "3,4"))
	byFile := e.must("cat-manifest", "--uuid-file", uuidFile)
	if byUUID := e.must("cat-manifest", uuid); byFile != byUUID {
		t.Errorf("cat-manifest --uuid-file printed\n%s\ncat-manifest UUID\n%s", byFile, byUUID)
	}
	for _, want := range []string{`"user": "/etc/passwd"`, `"group": "/owned"`, `"supplementaryGIDs": [`, `"os/linux/oom-score-adj"`} {
		if !strings.Contains(byFile, want) {
			t.Errorf("the manifest lacks %s:\n%s", want, byFile)
		}
	}
	compact := e.must("cat-manifest", "--pretty-print=false", "--uuid-file", uuidFile)
	if strings.Count(strings.TrimSpace(compact), "\n") != 0 || !strings.Contains(compact, `"supplementaryGIDs":[3,4]`) {
		t.Errorf("cat-manifest --pretty-print=false printed %s", compact)
	}
	e.refused("either UUIDs or --uuid-file", "cat-manifest", "--uuid-file", uuidFile, uuid)
	e.refused("needs a pod UUID", "cat-manifest")
}

// image list --fields prints the columns asked for, in their order; latest
// marks the image of each name imported last.
func TestAceImageListFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.fetchAce("1.0")
	newer := e.fetchAce("2.0")
	out := e.must("image", "list", "--full", "--fields=latest,id,name,size")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("image list printed %q", out)
	}
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "LATEST ID NAME SIZE" {
		t.Errorf("header %q, want LATEST ID NAME SIZE", lines[0])
	}
	want := map[string]string{old: "false example.com/ace:1.0", newer: "true example.com/ace:2.0"}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 4 || want[f[1]] != f[0]+" "+f[2] {
			t.Errorf("line %q: want %v", l, want)
		}
	}
	out = e.must("image", "list", "--no-legend", "--fields", "id")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) != 1 || !strings.HasPrefix(f[0], "sha512-") {
			t.Errorf("--fields id printed %q", l)
		}
	}
	e.refused(`unknown field "bogus"`, "image", "list", "--fields=id,bogus")
}

// What the new flags refuse, in one line, before any pod exists.
func TestAceRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "native"
	e.fetchAce("1.0")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte("A=1\nnot a setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		want string
		args []string
	}{
		{"--set-env-file " + filepath.Join(dir, "missing"), []string{"run", "--set-env-file", filepath.Join(dir, "missing"), "example.com/ace"}},
		{"line 2", []string{"run", "--set-env-file", bad, "example.com/ace"}},
		{"--supplementary-gids", []string{"run", "example.com/ace", "--supplementary-gids", "ten"}},
		{"not a group ID", []string{"run", "example.com/ace", "--supplementary-gids=-1"}},
		{"user /missing", []string{"run", "example.com/ace", "--user", "/missing"}},
		{"group /missing", []string{"prepare", "example.com/ace", "--group", "/missing"}},
		// A word meant as an argument reads as the next image.
		{`oops follows an image's flags, so it reads as an image: put app arguments after "--"`, []string{"run", "example.com/ace", "oops"}},
	} {
		e.refused(c.want, c.args...)
	}
	e.noPods()
}
