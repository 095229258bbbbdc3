package main

// The trust verbs, which podctl trust runs:
//
//	podctl-fetch trust-add (--prefix NAME | --root) KEYFILE|-
//	podctl-fetch trust-list [--format=json]
//	podctl-fetch trust-rm [--prefix NAME | --root] FINGERPRINT

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

func init() {
	verbs["trust-add"] = verbMain("trust-add", trustAdd)
	verbs["trust-list"] = verbMain("trust-list", trustList)
	verbs["trust-rm"] = verbMain("trust-rm", trustRm)
	verbs["verify-aci"] = verbMain("verify-aci", verifyACIVerb)
}

// verbMain turns a verb that returns an error into one that prints it as
// podctl does, on one line, and exits 254.
func verbMain(name string, fn func(args []string) error) func([]string) int {
	return func(args []string) int {
		if err := fn(args); err != nil {
			msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
			fmt.Fprintf(os.Stderr, "podctl: %s\n", msg)
			return 254
		}
		return 0
	}
}

// newFlags makes a verb's flag set, which reports rather than prints.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func dataDir() (string, error) {
	d := os.Getenv("PODCTL_DIR")
	if d == "" {
		return "", errors.New("podctl-fetch needs the data directory in PODCTL_DIR")
	}
	return d, nil
}

// maxKeyFile bounds a key file: a public key with its signatures is a few
// KiB; one with many third-party certifications some hundreds.
const maxKeyFile = 1 << 20

// readLimited reads r whole, refusing more than max bytes.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, max)
	}
	return b, nil
}

// parsePublicKey reads an armored file holding exactly one OpenPGP public
// key (no private key, no second key) and returns it.
func parsePublicKey(b []byte) (*openpgp.Entity, error) {
	if n := bytes.Count(b, []byte("-----BEGIN PGP ")); n != 1 {
		if n == 0 {
			return nil, errors.New("it is not an armored OpenPGP key (-----BEGIN PGP PUBLIC KEY BLOCK-----): export one with gpg --armor --export KEYID")
		}
		return nil, fmt.Errorf("it holds %d armored blocks: give one public key per file", n)
	}
	block, err := armor.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("it is not an armored OpenPGP key: %v", err)
	}
	if block.Type == openpgp.PrivateKeyType {
		return nil, errors.New("it holds a private key: give the public key only (gpg --armor --export KEYID)")
	}
	if block.Type != openpgp.PublicKeyType {
		return nil, fmt.Errorf("it holds a %q, not a %q: export the public key with gpg --armor --export KEYID", block.Type, openpgp.PublicKeyType)
	}
	el, err := openpgp.ReadKeyRing(block.Body)
	if err != nil {
		return nil, fmt.Errorf("it is not a valid OpenPGP public key: %v", err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("it holds %d keys: give one public key per file", len(el))
	}
	e := el[0]
	if e.PrivateKey != nil {
		return nil, errors.New("it holds a private key: give the public key only (gpg --armor --export KEYID)")
	}
	return e, nil
}

// fingerprintOf is a key's fingerprint in lower-case hex.
func fingerprintOf(e *openpgp.Entity) string {
	return fmt.Sprintf("%x", e.PrimaryKey.Fingerprint)
}

// showFingerprint is a fingerprint as users read it: upper-case hex.
func showFingerprint(fp string) string { return strings.ToUpper(fp) }

// userID is a key's primary user ID, or "".
func userID(e *openpgp.Entity) string {
	if id := e.PrimaryIdentity(); id != nil {
		return id.Name
	}
	return ""
}

// armoredKey serializes a key as the keystore holds it.
func armoredKey(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// scopeFlags are --prefix and --root, which say what a key is trusted for.
type scopeFlags struct {
	prefix string
	root   bool
}

func (s *scopeFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&s.prefix, "prefix", "", "")
	fs.BoolVar(&s.root, "root", false, "")
}

// what describes the scope for messages.
func scopeName(prefix string) string {
	if prefix == "" {
		return "all images (root key)"
	}
	return prefix
}

func trustAdd(args []string) error {
	fs := newFlags("trust-add")
	var sc scopeFlags
	sc.add(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("trust: %v", err)
	}
	if fs.NArg() != 1 {
		return errors.New("trust takes one KEYFILE: see podctl trust --help")
	}
	if sc.root == (sc.prefix != "") {
		return errors.New("trust needs either --prefix=NAME (the images the key may sign) or --root (every image): see podctl trust --help")
	}
	if !sc.root {
		if err := checkPrefix(sc.prefix); err != nil {
			return err
		}
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	file := fs.Arg(0)
	var b []byte
	if file == "-" {
		b, err = readLimited(os.Stdin, maxKeyFile, "the key")
	} else {
		var f *os.File
		if f, err = os.Open(file); err != nil {
			return fmt.Errorf("reading key: %w", err)
		}
		b, err = readLimited(f, maxKeyFile, "key file "+file)
		f.Close()
	}
	if err != nil {
		return err
	}
	e, err := parsePublicKey(b)
	if err != nil {
		return fmt.Errorf("key file %s: %v", file, err)
	}
	armored, err := armoredKey(e)
	if err != nil {
		return fmt.Errorf("key file %s: %v", file, err)
	}
	fp := fingerprintOf(e)
	if _, err := openKeystore(dir).store(sc.prefix, fp, armored); err != nil {
		return err
	}
	who := ""
	if id := userID(e); id != "" {
		who = fmt.Sprintf(" (%s)", id)
	}
	fmt.Printf("trusted key %s%s for %s\n", showFingerprint(fp), who, scopeName(sc.prefix))
	return nil
}

// listedKey is a line of trust-list --format=json.
type listedKey struct {
	Prefix      string `json:"prefix,omitempty"`
	Root        bool   `json:"root"`
	Fingerprint string `json:"fingerprint"`
	UserID      string `json:"user_id,omitempty"`
	Path        string `json:"path"`
}

func trustList(args []string) error {
	fs := newFlags("trust-list")
	format := fs.String("format", "", "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("trust --list: %v", err)
	}
	if fs.NArg() != 0 {
		return errors.New("trust --list takes no arguments: see podctl trust --help")
	}
	if *format != "" && *format != "json" {
		return fmt.Errorf("unknown --format %q: podctl trust --list knows json", *format)
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	entries, err := openKeystore(dir).entries()
	if err != nil {
		return err
	}
	out := []listedKey{}
	for _, e := range entries {
		k := listedKey{Prefix: e.Prefix, Root: e.Prefix == "", Fingerprint: showFingerprint(e.Fingerprint), Path: e.Path}
		if ent, err := readKeyFile(e.Path); err == nil {
			k.UserID = userID(ent)
		} else {
			k.UserID = "(unreadable: " + err.Error() + ")"
		}
		out = append(out, k)
	}
	if *format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tFINGERPRINT\tUSER ID")
	for _, k := range out {
		p := k.Prefix
		if k.Root {
			p = "(root)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p, k.Fingerprint, k.UserID)
	}
	return tw.Flush()
}

// readKeyFile reads a key of the keystore.
func readKeyFile(path string) (*openpgp.Entity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readLimited(f, maxKeyFile, path)
	if err != nil {
		return nil, err
	}
	return parsePublicKey(b)
}

func trustRm(args []string) error {
	fs := newFlags("trust-rm")
	var sc scopeFlags
	sc.add(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("trust --rm: %v", err)
	}
	if fs.NArg() != 1 {
		return errors.New("trust --rm takes one FINGERPRINT: see podctl trust --help")
	}
	if sc.root && sc.prefix != "" {
		return errors.New("trust --rm takes --prefix or --root, not both")
	}
	if sc.prefix != "" {
		if err := checkPrefix(sc.prefix); err != nil {
			return err
		}
	}
	fp, ok := parseFingerprint(fs.Arg(0))
	if !ok {
		return fmt.Errorf("%q is not a key fingerprint (40 or 64 hex digits, as podctl trust --list shows them)", fs.Arg(0))
	}
	dir, err := dataDir()
	if err != nil {
		return err
	}
	ks := openKeystore(dir)
	entries, err := ks.entries()
	if err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		if e.Fingerprint != fp || (sc.root && e.Prefix != "") || (sc.prefix != "" && e.Prefix != sc.prefix) {
			continue
		}
		if err := ks.remove(e); err != nil {
			return err
		}
		fmt.Printf("removed key %s for %s\n", showFingerprint(fp), scopeName(e.Prefix))
		n++
	}
	if n == 0 {
		where := ""
		switch {
		case sc.root:
			where = " as a root key"
		case sc.prefix != "":
			where = " for " + sc.prefix
		}
		return fmt.Errorf("no key %s is trusted%s: see podctl trust --list", showFingerprint(fp), where)
	}
	return nil
}
