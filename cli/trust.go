package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"podctl/internal/fetchhelper"
)

// trustFlags are podctl trust's options.
type trustFlags struct {
	prefix string
	root   bool
	list   bool
	rm     bool
	format string
}

// helperArgs turns the options and arguments into podctl-fetch's verb and
// arguments (trust-add, trust-list or trust-rm).
func (f *trustFlags) helperArgs(a []string) (verb string, args []string, err error) {
	if f.list && f.rm {
		return "", nil, errors.New("trust takes --list or --rm, not both: see podctl trust --help")
	}
	if f.format != "" && !f.list {
		return "", nil, errors.New("trust --format goes with --list: see podctl trust --help")
	}
	var scope []string
	if f.prefix != "" {
		scope = append(scope, "--prefix="+f.prefix)
	}
	if f.root {
		scope = append(scope, "--root")
	}
	switch {
	case f.list:
		if len(a) != 0 || len(scope) != 0 {
			return "", nil, errors.New("trust --list takes no arguments and no --prefix or --root: see podctl trust --help")
		}
		if f.format != "" {
			return "trust-list", []string{"--format=" + f.format}, nil
		}
		return "trust-list", nil, nil
	case f.rm:
		if len(a) != 1 {
			return "", nil, errors.New("trust --rm takes one key FINGERPRINT (see podctl trust --list): see podctl trust --help")
		}
		return "trust-rm", append(scope, a[0]), nil
	}
	if len(a) != 1 {
		return "", nil, errors.New("trust takes one KEYFILE (an armored public key, - for stdin): see podctl trust --help")
	}
	return "trust-add", append(scope, a[0]), nil
}

func newTrust(g *globals) *cobra.Command {
	f := &trustFlags{}
	cmd := &cobra.Command{
		Use:   "trust [--prefix=NAME | --root] KEYFILE",
		Short: "Trust an OpenPGP key to sign images",
		Long: `Add an armored OpenPGP public key to the keystore, as trusted to sign the
images whose names are NAME or under NAME/ (--prefix), or every image
(--root). podctl fetch, run and prepare then import an image file only
with a detached signature beside it (FILE.aci.asc) by a key trusted for the
image's name, and an OCI or Docker image not pinned by digest only with a
simple-signing signature by a key trusted for its repository (see podctl
fetch --help), unless --insecure-options=image is given. NAME may start
with a registry's HOST:PORT, as 127.0.0.1:5000/busybox.

--list shows the trusted keys, --rm FINGERPRINT removes one (from the
--prefix or --root given, else from wherever it is trusted). The keystore
is the data directory's trust/ folder.`,
		Example: `  gpg --armor --export builds@example.com > builds.asc
  podctl trust --prefix=example.com/app builds.asc
  podctl trust --prefix=127.0.0.1:5000/busybox registry.asc
  podctl trust --root root.asc
  podctl trust --list --format=json
  podctl trust --rm 0123456789ABCDEF0123456789ABCDEF01234567 --prefix=example.com/app`,
		RunE: func(cmd *cobra.Command, a []string) error {
			verb, args, err := f.helperArgs(a)
			if err != nil {
				return err
			}
			// An ordinary user's keystore is in the user's own data
			// directory, for the user's own fetches: theirs to change.
			return runHelper(g, cmd, verb, args...)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.prefix, "prefix", "", "trust the key for images named NAME or NAME/...")
	fl.BoolVar(&f.root, "root", false, "trust the key for every image")
	fl.BoolVar(&f.list, "list", false, "list the trusted keys")
	fl.BoolVar(&f.rm, "rm", false, "remove the key of the FINGERPRINT given")
	fl.StringVar(&f.format, "format", "", "with --list: json")
	return cmd
}

// runHelper runs a podctl-fetch verb with the verb's streams; its failure,
// which it says in one line of podctl's form, becomes the error.
func runHelper(g *globals, cmd *cobra.Command, verb string, args ...string) error {
	var stderr bytes.Buffer
	var stdin io.Reader
	if len(args) > 0 && args[len(args)-1] == "-" {
		stdin = cmd.InOrStdin()
	}
	err := fetchhelper.Run(g.config().DataDir, stdin, cmd.OutOrStdout(), &stderr, verb, args...)
	var ee *fetchhelper.ExitError
	if errors.As(err, &ee) {
		if msg := strings.TrimPrefix(strings.TrimSpace(stderr.String()), "podctl: "); msg != "" {
			return errors.New(msg)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	return nil
}
