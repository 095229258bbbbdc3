// Package mds holds what podctl and its metadata-service helper
// (cmd/podctl-mds) share: the helper's configuration, which a pod's stage1
// writes on the helper's standard input, the host's HMAC key and the
// derivation of each pod's key from it.
//
// The helper serves appc's App Container Metadata Service to one pod. It
// is started by the pod's stage1 with:
//
//	stdin   the Config as JSON, then nothing: end of file means the pod
//	        has ended and the helper exits
//	stdout  the helper writes ReadyLine once it serves
//	stderr  its errors, one line each
//	fd 3    a listening TCP socket, bound by stage1 on 127.0.0.1 in the
//	        pod's own network namespace
//
// This package links no HTTP code: podctl's start path must not.
package mds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"podctl/datadir"
	"podctl/internal/fsutil"
)

// HelperName is the helper's file name, installed beside podctl.
const HelperName = "podctl-mds"

// EnvHelper, if set, is the helper to run instead of the one beside podctl.
const EnvHelper = "PODCTL_MDS_HELPER"

// EnvURL is the variable that gives each app the service's URL.
const EnvURL = "AC_METADATA_URL"

// ReadyLine is what the helper writes on its standard output once it
// answers requests.
const ReadyLine = "ready\n"

// ListenerFD is the descriptor of the listening socket in the helper.
const ListenerFD = 3

// HostKeySize is the length of the host's key in bytes.
const HostKeySize = 64

// TokenBytes is the token's size: 256 bits, twice the spec's minimum.
const TokenBytes = 32

// MaxConfig bounds the configuration the helper reads: a pod manifest and
// image manifests are far smaller.
const MaxConfig = 16 << 20

// Config is what the helper serves, for one pod.
type Config struct {
	// UUID is the pod's UUID, in canonical form.
	UUID string `json:"uuid"`
	// Token is the secret first segment of every path the service
	// answers: requests without it are refused.
	Token string `json:"token"`
	// PodManifest is the pod manifest, as stage0 wrote it.
	PodManifest json.RawMessage `json:"pod_manifest"`
	// ImageManifests are the apps' image manifests as the store holds
	// them, by app name.
	ImageManifests map[string]json.RawMessage `json:"image_manifests"`
	// HostKey is the host's key (HostKeySize bytes), from which each
	// pod's key is derived (PodKey): the helper verifies the signatures
	// of other pods with it.
	HostKey []byte `json:"host_key"`
}

// ReadConfig reads a Config from r, up to MaxConfig bytes, and checks that
// it has what the helper needs.
func ReadConfig(r io.Reader) (*Config, error) {
	var c Config
	dec := json.NewDecoder(io.LimitReader(r, MaxConfig))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	switch {
	case len(c.Token) < 2*16:
		return nil, errors.New("reading the configuration: the token is shorter than 128 bits")
	case len(c.HostKey) != HostKeySize:
		return nil, fmt.Errorf("reading the configuration: the host key is %d bytes, not %d", len(c.HostKey), HostKeySize)
	case c.UUID == "" || len(c.PodManifest) == 0:
		return nil, errors.New("reading the configuration: no pod")
	}
	return &c, nil
}

// NewToken is a fresh random token of TokenBytes, in hex: only
// characters that need no escaping in a URL path.
func NewToken() (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the metadata service's token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// podKeyContext separates this use of the host key from any other.
const podKeyContext = "podctl metadata service pod key\x00"

// PodKey is the HMAC key of pod uuid: HMAC-SHA512 of the UUID under the
// host key. Every pod's key differs, none is stored, and a helper that
// holds the host key can verify any pod's signature, even of a pod that
// has ended.
func PodKey(hostKey []byte, uuid string) []byte {
	m := hmac.New(sha512.New, hostKey)
	m.Write([]byte(podKeyContext + uuid))
	return m.Sum(nil)
}

// Sign is the HMAC-SHA512 of content under key.
func Sign(key, content []byte) []byte {
	m := hmac.New(sha512.New, key)
	m.Write(content)
	return m.Sum(nil)
}

// HostKeyPath is where the host's key is kept in the data directory.
func HostKeyPath(dataDir string) string { return filepath.Join(dataDir, datadir.MDSKey) }

// LoadHostKey reads the host's key from the data directory, making it on
// first use. Two pods that make it at once agree on one: the first rename
// wins, and the other reads its key.
func LoadHostKey(dataDir string) ([]byte, error) {
	path := HostKeyPath(dataDir)
	if k, err := readHostKey(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	k := make([]byte, HostKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("making the metadata service's key: %w", err)
	}
	f, err := os.CreateTemp(dataDir, "."+datadir.MDSKey+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("making the metadata service's key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// Durable: a key lost in a crash would void every signature made
	// with it.
	_, err = f.Write(k)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	}
	if errors.Is(err, unix.EEXIST) {
		return readHostKey(path)
	}
	if err == nil {
		err = fsutil.SyncDir(dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("making the metadata service's key %s: %w", path, err)
	}
	return k, nil
}

// readHostKey reads the key at path, which must be a regular file of
// HostKeySize bytes, without following a symlink.
func readHostKey(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("reading the metadata service's key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the metadata service's key: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() != HostKeySize {
		return nil, fmt.Errorf("the metadata service's key %s is not a file of %d bytes: remove it, and signatures made with it no longer verify", path, HostKeySize)
	}
	k := make([]byte, HostKeySize)
	if _, err := io.ReadFull(f, k); err != nil {
		return nil, fmt.Errorf("reading the metadata service's key: %w", err)
	}
	return k, nil
}

// HelperPath finds the helper: $PODCTL_MDS_HELPER, or podctl-mds in the
// folder of the running podctl.
func HelperPath() (string, error) {
	if p := os.Getenv(EnvHelper); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", HelperName, err)
	}
	p := filepath.Join(filepath.Dir(self), HelperName)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not installed beside %s: install it from the same build (./build.sh makes bin/%s)", HelperName, self, HelperName)
	}
	return p, nil
}
