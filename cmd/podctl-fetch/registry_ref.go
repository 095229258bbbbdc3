package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"podctl/datadir"
)

// dockerScheme is how a registry image is named to podctl:
// docker://[HOST/]NAME[:TAG][@sha256:HEX], as skopeo and rkt name them.
const dockerScheme = "docker://"

// maxRefLen bounds a reference: Docker's own limit on a repository name is
// 255 characters, a host and a digest add less than 200.
const maxRefLen = 512

// parseRef reads a docker:// reference the way Docker does: a name without
// a host is on Docker Hub (index.docker.io), one without a namespace there
// is in library/, and one without a tag or digest is :latest. NAME:TAG@DIGEST
// is the digest: the tag is left out, as Docker pulls by the digest alone.
func parseRef(s string) (name.Reference, error) {
	rest, ok := strings.CutPrefix(s, dockerScheme)
	if !ok {
		return nil, fmt.Errorf("%q is not a registry image: write docker://[HOST/]NAME[:TAG] or docker://[HOST/]NAME@sha256:DIGEST", s)
	}
	if len(rest) > maxRefLen {
		return nil, fmt.Errorf("registry image reference over %d characters", maxRefLen)
	}
	if rest == "" || strings.ContainsAny(rest, " \t\r\n\x00") {
		return nil, fmt.Errorf("%q is not a registry image: write docker://[HOST/]NAME[:TAG] or docker://[HOST/]NAME@sha256:DIGEST", s)
	}
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		// NAME:TAG@DIGEST: drop the tag (a colon after the last slash).
		named := rest[:at]
		if c := strings.LastIndexByte(named, ':'); c > strings.LastIndexByte(named, '/') {
			rest = named[:c] + rest[at:]
		}
	}
	ref, err := name.ParseReference(rest)
	if err != nil || strings.Contains(rest, "@") && !isDigest(ref) {
		return nil, fmt.Errorf("%q is not a registry image: write docker://[HOST/]NAME[:TAG] or docker://[HOST/]NAME@sha256:DIGEST", s)
	}
	return ref, nil
}

func isDigest(ref name.Reference) bool {
	_, ok := ref.(name.Digest)
	return ok
}

// onHost is ref with its registry replaced by host (a mirror), the
// repository and tag or digest kept.
func onHost(ref name.Reference, host string, opts ...name.Option) (name.Reference, error) {
	repo := ref.Context().RepositoryStr()
	switch r := ref.(type) {
	case name.Digest:
		return name.NewDigest(host+"/"+repo+"@"+r.DigestStr(), opts...)
	case name.Tag:
		return name.NewTag(host+"/"+repo+":"+r.TagStr(), opts...)
	}
	return nil, fmt.Errorf("reference %s is neither a tag nor a digest", ref)
}

// The registries file, DATA/registries.json, names other hosts that serve
// a registry's images, tried in order before the registry itself, and
// where the simple-signing signatures of a registry's images are found
// (its lookaside, see signatures.go):
//
//	{"mirrors":   {"docker.io": ["127.0.0.1:5000", "mirror.example.com"]},
//	 "lookaside": {"docker.io": "https://sigs.example.com/sigstore",
//	               "127.0.0.1:5000": "file:///srv/sigstore"}}
//
// A registry is named as in references (docker.io and index.docker.io are
// the same); a mirror is a HOST[:PORT]; a lookaside is a file:// URL of a
// folder or an http:// or https:// URL. Both members may be left out.
const mirrorsFile = datadir.Registries

// maxMirrorsFile bounds the file read: it is a few lines.
const maxMirrorsFile = 1 << 20

type registriesConfig struct {
	Mirrors   map[string][]string `json:"mirrors"`
	Lookaside map[string]string   `json:"lookaside"`
}

// registries is what the registries file says, checked.
type registries struct {
	mirrors mirrorSet
	// lookaside maps a registry (as name.Registry.RegistryStr gives it)
	// to where its images' signatures are.
	lookaside map[string]lookaside
}

// mirrorSet maps a registry (as name.Registry.RegistryStr gives it) to its
// mirrors, in the order they are tried.
type mirrorSet map[string][]string

// add adds mirror as a host for registry, after those it has.
func (m mirrorSet) add(registry, mirror string) error {
	reg, err := name.NewRegistry(registry)
	if err != nil {
		return fmt.Errorf("mirror for %q: not a registry host: %w", registry, err)
	}
	mr, err := name.NewRegistry(mirror)
	if err != nil || mr.RegistryStr() != mirror {
		return fmt.Errorf("mirror %q for %s: not a HOST[:PORT]", mirror, registry)
	}
	m[reg.RegistryStr()] = append(m[reg.RegistryStr()], mirror)
	return nil
}

// addFlag reads --mirror NAME=HOST.
func (m mirrorSet) addFlag(v string) error {
	reg, host, ok := strings.Cut(v, "=")
	if !ok || reg == "" || host == "" {
		return fmt.Errorf("--mirror %q: write REGISTRY=HOST[:PORT], such as docker.io=127.0.0.1:5000", v)
	}
	return m.add(reg, host)
}

// loadMirrors adds the mirrors of dataDir's registries file to m.
func loadMirrors(dataDir string, m mirrorSet) error {
	regs, err := loadRegistries(dataDir)
	if err != nil {
		return err
	}
	for reg, hosts := range regs.mirrors {
		m[reg] = append(m[reg], hosts...)
	}
	return nil
}

// loadRegistries reads the registries file of dataDir; a missing file
// says nothing.
func loadRegistries(dataDir string) (registries, error) {
	p := filepath.Join(dataDir, mirrorsFile)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return registries{mirrors: mirrorSet{}, lookaside: map[string]lookaside{}}, nil
	}
	if err != nil {
		return registries{}, fmt.Errorf("reading registries file: %w", err)
	}
	defer f.Close()
	return parseRegistries(p, io.LimitReader(f, maxMirrorsFile))
}

// parseRegistries reads a registries file, p naming it in errors.
func parseRegistries(p string, r io.Reader) (registries, error) {
	var cfg registriesConfig
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return registries{}, fmt.Errorf("%s: %w", p, err)
	}
	regs := registries{mirrors: mirrorSet{}, lookaside: map[string]lookaside{}}
	for reg, hosts := range cfg.Mirrors {
		for _, h := range hosts {
			if err := regs.mirrors.add(reg, h); err != nil {
				return registries{}, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	for reg, u := range cfg.Lookaside {
		rn, err := name.NewRegistry(reg)
		if err != nil {
			return registries{}, fmt.Errorf("%s: lookaside for %q: not a registry host: %w", p, reg, err)
		}
		if u == "" {
			return registries{}, fmt.Errorf("%s: lookaside for %s: empty (write a file://, https:// or http:// URL)", p, reg)
		}
		l, err := parseLookaside(u, true)
		if err != nil {
			return registries{}, fmt.Errorf("%s: lookaside for %s: %w", p, reg, err)
		}
		regs.lookaside[rn.RegistryStr()] = l
	}
	return regs, nil
}
