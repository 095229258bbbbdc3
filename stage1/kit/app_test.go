package kit

import (
	"os"
	"path/filepath"
	"podctl/lifecycle"
	"podctl/stage1"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

func TestAppSpecsEnv(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := schema.BlankPodManifest()
	m.Annotations.Set(lifecycle.AnnotationName, "web-1")
	ra := schema.RuntimeApp{Name: "app", App: &types.App{Exec: []string{"/bin/true"},
		Environment: types.Environment{{Name: "A", Value: "1"}, {Name: "TOKEN", Value: "plain"}, {Name: stage1.EnvPodUUID, Value: "mine"}}}}
	ra.Annotations.Set(lifecycle.AnnotationSecretEnv, `{"TOKEN":"`+secret+`"}`)
	m.Apps = append(m.Apps, ra)
	specs, err := AppSpecs(podAt(t, dir, "5b1f2c3d-0000-4000-8000-000000000000"), m)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range specs[0].Env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; dup {
			t.Errorf("%s is set twice in %q", k, specs[0].Env)
		}
		env[k] = v
	}
	for k, want := range map[string]string{"A": "1", "TOKEN": "s3cr3t", stage1.EnvPodUUID: "5b1f2c3d-0000-4000-8000-000000000000", stage1.EnvPodName: "web-1", "AC_APP_NAME": "app"} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if len(specs[0].SecretEnv) != 1 || specs[0].SecretEnv[0] != "TOKEN" {
		t.Errorf("SecretEnv %q, want TOKEN", specs[0].SecretEnv)
	}

	// A pod without a name gets an empty PODCTL_POD_NAME.
	m.Annotations = nil
	m.Apps[0].Annotations = nil
	specs, err = AppSpecs(podAt(t, dir, "u"), m)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, kv := range specs[0].Env {
		found = found || kv == stage1.EnvPodName+"="
	}
	if !found || len(specs[0].SecretEnv) != 0 {
		t.Errorf("no name: env %q, secrets %q", specs[0].Env, specs[0].SecretEnv)
	}

	// A secret file gone by the time the pod starts fails the start.
	m.Apps[0].Annotations.Set(lifecycle.AnnotationSecretEnv, `{"TOKEN":"`+filepath.Join(dir, "gone")+`"}`)
	if _, err := AppSpecs(podAt(t, dir, "u"), m); err == nil || !strings.Contains(err.Error(), "TOKEN") {
		t.Errorf("a missing secret file: %v", err)
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for content, want := range map[string]string{"v": "v", "v\n": "v", "v\n\n": "v\n", "": "", "a b\tc": "a b\tc"} {
		got, err := stage1.ReadSecret(write("s", []byte(content)))
		if err != nil || got != want {
			t.Errorf("stage1.ReadSecret of %q = %q, %v; want %q", content, got, err, want)
		}
	}
	if _, err := stage1.ReadSecret(write("big", []byte(strings.Repeat("x", stage1.MaxSecretSize+1)))); err == nil {
		t.Error("a secret too big for the environment was read")
	}
	if _, err := stage1.ReadSecret(write("nul", []byte("a\x00b"))); err == nil {
		t.Error("a secret with NUL was read")
	}
	if _, err := stage1.ReadSecret(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file was read")
	}
	big := strings.Repeat("x", stage1.MaxSecretSize)
	if got, err := stage1.ReadSecret(write("max", []byte(big+"\n"))); err != nil || got != big {
		t.Errorf("a secret of the largest size: %v", err)
	}
}

// A pod manifest that mounts a volume over a folder stage1 mounts itself
// is refused, however it came to be written.
func TestMountOverStage1DirsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, target := range []string{"/proc", "/proc/sys", "/sys/fs/cgroup", "/dev", "/dev/../dev/shm", "/data"} {
		m := schema.BlankPodManifest()
		m.Volumes = []types.Volume{{Name: "v", Kind: "host", Source: dir}}
		m.Apps = []schema.RuntimeApp{{Name: "app", App: &types.App{Exec: []string{"/bin/true"}},
			Mounts: []schema.Mount{{Volume: "v", Path: target}}}}
		_, err := AppSpecs(podAt(t, dir, "5b1f2c3d-0000-4000-8000-000000000000"), m)
		if target == "/data" {
			if err != nil {
				t.Errorf("mount on %s: %v", target, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "is stage1's") {
			t.Errorf("mount on %s: got %v, want a refusal", target, err)
		}
	}
}

// podAt makes and opens a pod directory named uuid below dir.
func podAt(t *testing.T, dir, uuid string) *lifecycle.Pod {
	t.Helper()
	path := filepath.Join(dir, uuid)
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := lifecycle.OpenAt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
