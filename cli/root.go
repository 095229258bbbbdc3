// Package cli is podctl's command line: one file per verb, each parsing
// its flags into an options struct, making one library call and printing.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"podctl/internal/errdefs"
	"podctl/internal/fetchhelper"
	"podctl/internal/rootless"
	"podctl/stage0"
	"podctl/stage1"
)

// ExitError is podctl's own failure: exit status 254, as rkt chose, so it
// cannot be mistaken for an app's status (stage1.ExitStartFailed).
const ExitError = stage1.ExitStartFailed

// ExitTimeout is wait's status when --timeout ran out, as timeout(1)'s and
// as a pod's whose --timeout ran out (stage1.ExitTimeout).
const ExitTimeout = stage1.ExitTimeout

// exitStatus is returned by a verb that must exit with a given status and
// has already said whatever it had to say.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitCode is the one place where an error becomes podctl's exit status.
// It also says whether the error is still to be printed: an exitStatus has
// been said already.
func exitCode(err error) (code int, print bool) {
	var st exitStatus
	switch {
	case err == nil:
		return 0, false
	case errors.As(err, &st):
		return int(st), false
	case errors.As(err, new(*fetchhelper.ExitError)):
		// podctl-fetch has said why, in podctl's one line, on our stderr.
		return ExitError, false
	case errors.Is(err, errdefs.ErrTimeout):
		// As timeout(1) exits: wait --timeout.
		return ExitTimeout, true
	case errors.Is(err, errdefs.ErrInvalid), errors.Is(err, errdefs.ErrNotFound), errors.Is(err, errdefs.ErrBusy):
		// Usage errors (stage0.ErrUsage), what does not exist, what
		// someone else holds: podctl's own failure, told apart by the
		// message only.
		return ExitError, true
	}
	return ExitError, true
}

// globals are the flags every verb has.
type globals struct {
	dir   string
	debug bool
	// dirErr says why an ordinary user has no default data directory.
	dirErr error
}

func (g *globals) config() stage0.Config {
	// Absolute, since pods record paths into it that must hold from
	// wherever a later podctl runs.
	dir, err := filepath.Abs(g.dir)
	if err != nil {
		dir = g.dir
	}
	return stage0.Config{DataDir: dir, Debug: g.debug, Warn: warn}
}

// privilege is the annotation that says how a verb runs for an ordinary
// user: needsRoot, it is refused; inUserNS, it is executed again in a user
// namespace of the user's own (rootless.Run), where it is root over the
// user's subordinate ids. Other verbs run as the user.
const (
	privilege = "privilege"
	needsRoot = "needs-root"
	inUserNS  = "user-namespace"
)

// checkPrivilege refuses a root-only verb to an ordinary user, and runs a
// verb that makes pods or images in the user's namespace instead of here:
// the error it then returns is that run's exit status.
func checkPrivilege(cmd *cobra.Command, g *globals) error {
	if os.Geteuid() == 0 {
		return nil
	}
	if g.dir == "" {
		return g.dirErr
	}
	switch cmd.Annotations[privilege] {
	case needsRoot:
		return fmt.Errorf("%s needs root: try sudo %s", cmd.CommandPath(), cmd.CommandPath())
	case inUserNS:
		dir, err := filepath.Abs(g.dir)
		if err != nil {
			return fmt.Errorf("data directory %s: %w", g.dir, err)
		}
		code, err := rootless.Run("/proc/self/exe", os.Args[1:], []string{"PODCTL_DIR=" + dir})
		if err != nil {
			return err
		}
		return exitStatus(code)
	}
	return nil
}

// NewRoot builds the whole command tree.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	return newRoot(stdout, stderr, "")
}

// newRoot is NewRoot with only the verb called only, if not "": building
// every verb's flags and help costs each podctl process a quarter of a
// millisecond, on a pod's start before its init is started.
func newRoot(stdout, stderr io.Writer, only string) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "podctl",
		Short: "podctl runs pods of appc images, with no daemon",
		Long: `podctl is a daemonless pod manager. A pod is a directory in the data
directory; its state is the folder it sits in, and any podctl process (from
a shell, an init script, a systemd unit or cron) can act on it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return checkPrivilege(cmd, g)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	dir := os.Getenv("PODCTL_DIR")
	if dir == "" {
		dir = "/var/lib/podctl"
		if rootless.Active() {
			// An ordinary user's pods and images are the user's own.
			dir, g.dirErr = rootless.DefaultDataDir()
		}
	}
	root.PersistentFlags().StringVar(&g.dir, "dir", dir, "data directory (or $PODCTL_DIR)")
	root.PersistentFlags().BoolVar(&g.debug, "debug", false, "print progress on stderr")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if err, whole := flagError(err); whole {
			return err
		}
		return fmt.Errorf("%v: see %s --help", err, cmd.CommandPath())
	})
	for _, v := range verbs {
		if only == "" || v.name == only {
			root.AddCommand(v.make(g))
		}
	}
	root.SetHelpCommand(newHelp(root))
	unsortFlags(root)
	return root
}

// verbs are podctl's commands, by name, in the order --help lists them.
var verbs = []struct {
	name string
	make func(*globals) *cobra.Command
}{
	{"run", newRun}, {"prepare", newPrepare}, {"run-prepared", newRunPrepared}, {"status", newStatus}, {"list", newList},
	{"cat-manifest", newCatManifest}, {"enter", newEnter}, {"logs", newLogs}, {"attach", newAttach}, {"stop", newStop},
	{"rm", newRm}, {"gc", newGC}, {"wait", newWait}, {"events", newEvents}, {"apply", newApply},
	{"systemd-generator", func(*globals) *cobra.Command { return newSystemdGenerator() }}, {"app", newApp},
	{"stats", newStats}, {"pause", newPause}, {"resume", newResume}, {"fetch", newFetch}, {"image", newImage},
	{"trust", newTrust}, {"version", func(*globals) *cobra.Command { return newVersion() }},
}

// verbOf is the verb args name, if they name one of verbs after the root's
// own flags alone; "" if they do not (help, a typo, a root flag podctl
// must show the whole tree for).
func verbOf(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--dir":
			i++
			continue
		case strings.HasPrefix(a, "--dir=") || a == "--debug":
			continue
		case strings.HasPrefix(a, "-"):
			return ""
		}
		for _, v := range verbs {
			if v.name == a {
				return a
			}
		}
		return ""
	}
	return ""
}

// Execute runs podctl with os.Args and returns the exit status.
func Execute() int {
	return execute(os.Args[1:], os.Stdout, os.Stderr)
}

// execute runs podctl with args and returns the exit status.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr, verbOf(args))
	root.SetArgs(args)
	err := root.Execute()
	code, print := exitCode(err)
	if !print {
		return code
	}
	if strings.HasPrefix(err.Error(), "unknown command") {
		err = fmt.Errorf("%s: see podctl --help", oneLineSuggestions(err.Error()))
	}
	fmt.Fprintf(stderr, "podctl: %v\n", err)
	return code
}

// warn prints a failure that does not end the command (a pod's stage1
// goes on), in the form of podctl's errors.
func warn(err error) {
	fmt.Fprintf(os.Stderr, "podctl: %v\n", err)
}

// oneLineSuggestions folds the block of suggestions cobra adds to an
// unknown command's error into its first line: podctl's errors are one
// line.
func oneLineSuggestions(msg string) string {
	first, rest, ok := strings.Cut(msg, "\n")
	if !ok {
		return msg
	}
	_, names, ok := strings.Cut(rest, "Did you mean this?")
	if !ok || len(strings.Fields(names)) == 0 {
		return first
	}
	return fmt.Sprintf("%s (did you mean %s?)", first, strings.Join(strings.Fields(names), " or "))
}

// newHelp replaces cobra's help verb, which prints the usage and exits 0
// for a topic it does not know.
func newHelp(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, a []string) error {
			cmd, rest, err := root.Find(a)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("no help for %q: podctl has no such command: see podctl --help", strings.Join(a, " "))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// unsortFlags makes --help list flags in the order they were defined,
// which puts the important ones first.
func unsortFlags(c *cobra.Command) {
	c.Flags().SortFlags = false
	c.PersistentFlags().SortFlags = false
	for _, sub := range c.Commands() {
		unsortFlags(sub)
	}
}

// args checks a verb's arguments and, if they are wrong, says where the
// usage is.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			want := "no arguments"
			if _, rest, ok := strings.Cut(cmd.Use, " "); ok {
				want = rest
			}
			name := strings.TrimPrefix(cmd.CommandPath(), "podctl ")
			return fmt.Errorf("%s takes %s: see %s --help", name, want, cmd.CommandPath())
		}
		return nil
	}
}

// rootOnly marks a verb an ordinary user may not run.
func rootOnly(c *cobra.Command) *cobra.Command {
	return withPrivilege(c, needsRoot)
}

// userNS marks a verb that makes or removes pods or images: an ordinary
// user runs it in a user namespace of the user's own.
func userNS(c *cobra.Command) *cobra.Command {
	return withPrivilege(c, inUserNS)
}

func withPrivilege(c *cobra.Command, p string) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[privilege] = p
	return c
}

// addUUIDFile adds --uuid-file to a verb that takes pod UUIDs.
func addUUIDFile(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "uuid-file", "", "read the pod's UUID from this file (as written by --uuid-file-save)")
}

// podArgs returns the pods a verb acts on: its arguments, or the UUID in
// the --uuid-file. Each is a UUID, a UUID prefix or a pod name, which
// stage0's Config.OpenPod tells apart.
func podArgs(cmd *cobra.Command, a []string, uuidFile string) ([]string, error) {
	if uuidFile == "" {
		if len(a) == 0 {
			return nil, fmt.Errorf("%s needs a pod UUID, a pod name or --uuid-file: see %s --help", cmd.Name(), cmd.CommandPath())
		}
		return a, nil
	}
	if len(a) > 0 {
		return nil, fmt.Errorf("%s takes either UUIDs or --uuid-file, not both", cmd.Name())
	}
	b, err := os.ReadFile(uuidFile)
	if err != nil {
		return nil, fmt.Errorf("reading --uuid-file: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return nil, fmt.Errorf("--uuid-file %s is empty", uuidFile)
	}
	return []string{id}, nil
}
