// Package podfile reads pod files: one file per pod, saying what should
// run. Three forms are read, told apart by their top-level keys:
//
//	| form        | top level                    | see          |
//	| ----------- | ---------------------------- | ------------ |
//	| podctl's    | name:, apps:, ...            | native.go    |
//	| Kubernetes  | apiVersion: v1, kind: Pod    | kube.go      |
//	| appc        | acKind: PodManifest          | appc.go      |
//
// Each is YAML (JSON being YAML too), decoded with every field known: a
// field this package does not read is refused with its line, so that a
// misspelt or unsupported setting never passes silently. All three become
// one Pod, whose values are still text in the syntax of run's flags: the
// caller (package apply) checks them with stage0's parsers, which say
// what is wrong in the words of those flags.
//
// The package reads bytes: of podctl, it imports only lifecycle, for the
// names of podctl's annotations.
package podfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Ext is the extension of pod files in a folder.
const Ext = ".pod"

// MaxSize is the largest pod file read: a pod file is a page, not data.
const MaxSize = 1 << 20

// Pod is what a pod file asks for.
type Pod struct {
	// File is the file's absolute path; Digest is "sha256:" and the hex
	// of its bytes: what a pod records of where it came from.
	File   string
	Digest string
	// Form is "podctl", "kubernetes" or "appc".
	Form string
	// Owner and Mode are the file's, as ReadFile found it open (not
	// set by Parse): who may change what the file runs.
	Owner uint32
	Mode  fs.FileMode

	// Name is the pod's name: the file's, or the file name without .pod.
	Name   string
	Flavor string
	Labels map[string]string
	// Annotations are the user's, without those this package read.
	Annotations map[string]string
	// Restart is a --restart value: no, on-failure[:MAX] or always;
	// RestartBackoff a --restart-backoff duration.
	Restart        string
	RestartBackoff string
	// Ready is started or notify.
	Ready string
	// StopGrace is how long a stop waits before it kills, as a duration
	// ("10s"); "" is podctl stop's default.
	StopGrace string
	// Net are --net values; Hostname is --hostname.
	Net      []string
	Hostname string
	// Ports are --port values.
	Ports []string
	// Volumes are --volume values.
	Volumes []string
	// InsecureImage accepts image files without a verified signature.
	InsecureImage bool
	Apps          []App
}

// App is one app of a Pod.
type App struct {
	Name  string
	Image string
	// Exec replaces the image's command, Args its arguments (when
	// HasArgs: an empty list is a list).
	Exec    string
	Args    []string
	HasArgs bool
	// Env are KEY=VALUE, in order.
	Env             []string
	User, Group     string
	WorkingDir      string
	Mounts          []string // volume=NAME,target=/PATH
	Memory, CPU     string
	ReadOnlyRootfs  bool
	CapsRetain      []string
	CapsAdd         []string // added to the default ones
	CapsRemove      []string
	NoNewPrivileges *bool
}

// Error is a pod file that cannot be read: one line naming the file and,
// when known, the line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func errorf(file string, line int, format string, a ...any) error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, a...)}
}

// ReadFile reads and parses the pod file at path.
func ReadFile(path string) (*Pod, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("pod file %s: %w", path, err)
	}
	f, fi, err := OpenRegular(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading pod file %s: %w", abs, err)
	}
	if len(b) > MaxSize {
		return nil, errorf(abs, 0, "larger than %d bytes: a pod file describes a pod, keep data elsewhere", MaxSize)
	}
	p, err := Parse(abs, b)
	if err != nil {
		return nil, err
	}
	p.Mode = fi.Mode()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		p.Owner = st.Uid
	}
	return p, nil
}

// OpenRegular opens a pod file for reading, refusing what is not a
// regular file. The open does not block: a FIFO put where a pod file was
// expected must not hang apply or list.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("reading pod file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("reading pod file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errorf(path, 0, "not a regular file: a pod file is a file")
	}
	return f, fi, nil
}

// Digest is the digest a pod records of its file's bytes.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NameOf is the name a pod file gives its pod when it names none: the
// file name without its extension.
func NameOf(file string) string {
	return strings.TrimSuffix(filepath.Base(file), Ext)
}

// Parse reads the pod file whose absolute path is file and whose content
// is b.
func Parse(file string, b []byte) (*Pod, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errorf(file, 0, "not a pod file: it must be a mapping of keys such as name: and apps: (see podctl apply --help)")
	}
	top := doc.Content[0]
	var p *Pod
	var err error
	switch {
	case hasKey(top, "acKind"):
		p, err = parseAppc(file, b)
	case hasKey(top, "kind") || hasKey(top, "apiVersion"):
		p, err = parseKube(file, b)
	default:
		p, err = parseNative(file, b)
	}
	if err != nil {
		return nil, err
	}
	p.File, p.Digest = file, Digest(b)
	if p.Name == "" {
		p.Name = NameOf(file)
	}
	if len(p.Apps) == 0 {
		return nil, errorf(file, 0, "pod %s has no apps: give at least one", p.Name)
	}
	seen := map[string]bool{}
	for i := range p.Apps {
		a := &p.Apps[i]
		if a.Image == "" {
			return nil, errorf(file, 0, "app %d of pod %s has no image", i+1, p.Name)
		}
		a.Image = imagePath(file, a.Image)
		if a.Name != "" {
			if seen[a.Name] {
				return nil, errorf(file, 0, "two apps are named %s: name each app once", a.Name)
			}
			seen[a.Name] = true
		}
	}
	return p, nil
}

// imagePath makes an image given as a relative file path (./x.aci,
// ../x.aci, x.aci) relative to the pod file's folder, not to wherever
// apply runs from. A reference with a transport (oci:..., docker://...)
// is left as it is.
func imagePath(file, image string) string {
	relative := strings.HasPrefix(image, "./") || strings.HasPrefix(image, "../") ||
		strings.HasSuffix(image, ".aci") && !filepath.IsAbs(image) && !strings.Contains(image, ":")
	if relative {
		return filepath.Join(filepath.Dir(file), image)
	}
	return image
}

// hasKey reports whether a mapping node has key k.
func hasKey(m *yaml.Node, k string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == k {
			return true
		}
	}
	return false
}

// decodeStrict decodes b into v, refusing fields v has none for and a
// second document.
func decodeStrict(file string, b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return yamlError(file, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return errorf(file, more.Line, "a second document: a pod file holds one pod, put each in a file of its own")
	} else if !errors.Is(err, io.EOF) {
		return yamlError(file, err)
	}
	return nil
}

// The YAML library's messages, compiled when first needed: every podctl
// start links this package, and only a bad pod file needs them.
var (
	yamlLineRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`) })
	yamlUnknownRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)^field (.+) not found in type [^ ]+$`) })
	yamlTypeRE    = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?s)^cannot unmarshal !!(\w+) ` + "`" + `?(.*?)` + "`" + `? into (\S+)$`)
	})
)

// yamlError rewrites the YAML library's error as one line naming the file,
// the line and, for an unknown field, the field.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs = te.Errors
	}
	line := 0
	msg := strings.TrimPrefix(msgs[0], "yaml: ")
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = m[2]
	}
	if m := yamlUnknownRE().FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("unknown field %q: podctl does not read it (misspelt, or not supported; see podctl apply --help)", m[1])
	} else if m := yamlTypeRE().FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("%q is a %s where %s is wanted", m[2], kindWord(m[1]), typeWord(m[3]))
	}
	if len(msgs) > 1 {
		msg += fmt.Sprintf(" (and %d more errors)", len(msgs)-1)
	}
	// A key or value the library quotes raw can hold a line break; the
	// error stays one line whatever the file holds.
	msg = oneLine(msg)
	return &Error{File: file, Line: line, Msg: msg}
}

// oneLine writes control characters in msg as Go escapes.
func oneLine(msg string) string {
	if !strings.ContainsFunc(msg, unicode.IsControl) {
		return msg
	}
	var b strings.Builder
	for _, r := range msg {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func kindWord(tag string) string {
	switch tag {
	case "str":
		return "string"
	case "seq":
		return "list"
	case "map":
		return "mapping"
	}
	return tag
}

func typeWord(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case goType == "string":
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "true or false"
	case strings.Contains(goType, "int"):
		return "a number"
	}
	return "a mapping"
}
