package mds

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadHostKeyOnce(t *testing.T) {
	dir := t.TempDir()
	// Pods starting at once agree on one key.
	keys := make([][]byte, 8)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadHostKey(dir)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(keys[i]) != HostKeySize || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("key %d differs from key 0", i)
		}
	}
	st, err := os.Stat(HostKeyPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("the key is mode %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadHostKey(dir)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatalf("reading the key again: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("the data directory holds %d entries, want the key alone", len(ents))
	}
}

func TestLoadHostKeyRefusesDamaged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(HostKeyPath(dir), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(dir); err == nil || !strings.Contains(err.Error(), "not a file of 64 bytes") {
		t.Errorf("a short key: %v", err)
	}
	os.Remove(HostKeyPath(dir))
	target := filepath.Join(dir, "elsewhere")
	os.WriteFile(target, bytes.Repeat([]byte{1}, HostKeySize), 0o600)
	if err := os.Symlink(target, HostKeyPath(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(dir); err == nil {
		t.Error("a key behind a symlink was read")
	}
}

func TestPodKeys(t *testing.T) {
	k := bytes.Repeat([]byte{3}, HostKeySize)
	a, b := PodKey(k, "6733c736-6a1b-4b5d-9d1b-1b4c2a1e0f11"), PodKey(k, "0c8f7c9e-2f6a-4d3c-8c0e-5b1f3b7b9a22")
	if bytes.Equal(a, b) || len(a) != 64 {
		t.Error("two pods have the same key")
	}
	if !bytes.Equal(a, PodKey(k, "6733c736-6a1b-4b5d-9d1b-1b4c2a1e0f11")) {
		t.Error("a pod's key is not the same twice")
	}
}

func TestNewToken(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken()
	if len(a) != 2*TokenBytes || a == b {
		t.Errorf("tokens %q and %q", a, b)
	}
}

func TestReadConfig(t *testing.T) {
	good := Config{UUID: "u", Token: strings.Repeat("a", 64), PodManifest: json.RawMessage(`{}`), HostKey: bytes.Repeat([]byte{1}, HostKeySize)}
	b, _ := json.Marshal(good)
	if _, err := ReadConfig(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	short := good
	short.Token = "abc"
	b, _ = json.Marshal(short)
	if _, err := ReadConfig(bytes.NewReader(b)); err == nil {
		t.Error("a short token was taken")
	}
}

// FuzzReadConfig reads what arrives on the helper's stdin.
func FuzzReadConfig(f *testing.F) {
	f.Add([]byte(`{"uuid":"u","token":"` + strings.Repeat("a", 64) + `","pod_manifest":{},"host_key":"` + strings.Repeat("A", 88) + `"}`))
	f.Add([]byte(`{"token":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ReadConfig(bytes.NewReader(b))
		if err == nil && (len(c.HostKey) != HostKeySize || len(c.Token) < 32) {
			t.Fatalf("accepted %q", b)
		}
	})
}
