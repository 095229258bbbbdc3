package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// keychain finds a registry's credentials where podman, skopeo and Docker
// keep them, in the order containers/image reads them:
//
//  1. $REGISTRY_AUTH_FILE
//  2. $XDG_RUNTIME_DIR/containers/auth.json
//  3. $XDG_CONFIG_HOME/containers/auth.json (~/.config/containers/auth.json)
//  4. Docker's $DOCKER_CONFIG/config.json or ~/.docker/config.json, with
//     its credential helpers (go-containerregistry's DefaultKeychain)
//
// The first file with an entry for the registry wins; with none, the pull
// is anonymous.
type keychain struct{}

// maxAuthFile bounds an auth file read: a few entries.
const maxAuthFile = 1 << 20

func (keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := normalizeAuthHost(target.RegistryStr())
	for _, p := range authFiles() {
		cfg, ok, err := lookupAuthFile(p, host)
		if err != nil {
			return nil, err
		}
		if ok {
			return authn.FromConfig(cfg), nil
		}
	}
	return authn.DefaultKeychain.Resolve(target)
}

func authFiles() []string {
	var files []string
	if p := os.Getenv("REGISTRY_AUTH_FILE"); p != "" {
		files = append(files, p)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	config := os.Getenv("XDG_CONFIG_HOME")
	if config == "" {
		if home, err := os.UserHomeDir(); err == nil {
			config = filepath.Join(home, ".config")
		}
	}
	if config != "" {
		files = append(files, filepath.Join(config, "containers", "auth.json"))
	}
	return files
}

type authFile struct {
	Auths map[string]authEntry `json:"auths"`
}

type authEntry struct {
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

// lookupAuthFile reads the entry for host in the auth file p; a missing
// file has none.
func lookupAuthFile(p, host string) (authn.AuthConfig, bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return authn.AuthConfig{}, false, nil
	}
	if err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf("reading credentials: %w", err)
	}
	defer f.Close()
	var af authFile
	if err := json.NewDecoder(io.LimitReader(f, maxAuthFile)).Decode(&af); err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf("reading credentials: %s: %w", p, err)
	}
	for key, e := range af.Auths {
		if normalizeAuthHost(key) != host {
			continue
		}
		cfg := authn.AuthConfig{IdentityToken: e.IdentityToken}
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			user, pass, ok := strings.Cut(string(dec), ":")
			if err != nil || !ok {
				return authn.AuthConfig{}, false, fmt.Errorf("reading credentials: %s: the entry for %s is not base64 of USER:PASSWORD", p, key)
			}
			cfg.Username, cfg.Password = user, pass
		}
		return cfg, true, nil
	}
	return authn.AuthConfig{}, false, nil
}

// normalizeAuthHost is the registry host an auth file key names: keys may
// carry a scheme and a path (https://index.docker.io/v1/), and Docker Hub
// has several names.
func normalizeAuthHost(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	switch k {
	case "docker.io", "registry-1.docker.io":
		return "index.docker.io"
	}
	return k
}
