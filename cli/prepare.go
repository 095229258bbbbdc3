package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"podctl/lifecycle"
	"podctl/stage0"
)

// podFlags are the flags run and prepare share.
type podFlags struct {
	apps     appFlags
	setEnv   []stage0.EnvVar
	insecure []string
	// insecurePull are the checks of registry pulls to skip (http, tls).
	insecurePull []string
	// signatures is where OCI and Docker images' signatures are (--signatures).
	signatures string
	flavor     string
	noOverly   bool
	uuidFile   string
	volumes    []types.Volume
	limits     limitFlags
	// name, labels, annotations and secrets are the pod's; see appSyntax.
	name        string
	labels      []stage0.KeyValue
	annotations []stage0.KeyValue
	secrets     []stage0.Secret
	net         netFlags
	sec         secFlags
	// setEnvFile and inheritEnv are rkt's --set-env-file and --inherit-env.
	setEnvFile string
	inheritEnv bool
	// podManifest is --pod-manifest's file; fs, the flags, which it
	// refuses most of.
	podManifest string
	fs          *pflag.FlagSet
	// following are the images that followed another's flags (strayHint).
	following []string
	// mutable makes a pod whose apps podctl app changes while it runs.
	mutable bool
}

func (f *podFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	f.fs = fs
	fs.SetInterspersed(false)
	fs.StringVar(&f.name, "name", "", "name of the pod (before the first image; after an image, --name names that app): lower-case letters, digits and dashes, usable wherever a UUID is")
	list(fs, &f.labels, "label", stage0.ParseLabel, "a label of the pod, KEY=VALUE, which list --filter label= selects (repeatable)")
	list(fs, &f.annotations, "annotation", stage0.ParseAnnotation, "an annotation of the pod, KEY=VALUE (repeatable)")
	list(fs, &f.setEnv, "set-env", stage0.ParseEnv, "set KEY=VALUE in every app's environment (repeatable)")
	fs.StringVar(&f.setEnvFile, "set-env-file", "", "set every app's environment from FILE: a KEY=VALUE a line (# comments); --set-env wins over it")
	fs.StringVar(&f.podManifest, "pod-manifest", "", "run the pod FILE describes, an appc pod manifest whose images are in the store, instead of images and app flags")
	fs.BoolVar(&f.inheritEnv, "inherit-env", false, "give every app podctl's own environment, below every other setting (the image's included)")
	list(fs, &f.secrets, "set-env-secret", secretParser("--set-env-secret"), "set NAME in every app's environment to the content of FILE, read when the pod starts and never stored: NAME=FILE (repeatable)")
	fs.StringSliceVar(&f.insecure, "insecure-options", nil, "checks to skip: image (use images without a verified signature), http, tls, all")
	fs.StringVar(&f.signatures, "signatures", "", signaturesUsage)
	fs.StringVar(&f.flavor, "stage1", "", "stage1 flavor: systemd (the default where systemd-nspawn is installed) or fly; fly does not isolate its apps (a chroot with the default capabilities, no seccomp: see security.md)")
	fs.BoolVar(&f.noOverly, "no-overlay", false, "copy image trees into the pod instead of mounting overlays")
	fs.BoolVar(&f.mutable, "mutable", false, "make a pod that stays up, with no image or some, until podctl stop, whose apps podctl app adds, starts, stops and removes (native and systemd flavors)")
	fs.StringVar(&f.uuidFile, "uuid-file-save", "", "write the pod's UUID to this file as soon as the pod exists")
	list(fs, &f.volumes, "volume", stage0.ParseVolume, "a pod volume: NAME,kind=host,source=/PATH[,readOnly=true] or NAME,kind=empty[,mode=0755,uid=N,gid=N] (repeatable; apps use it with --mount)")
	f.limits.add(fs)
	f.net.add(fs)
	f.sec.add(fs)
	f.apps.add(fs, &stage0.AppOptions{}, false)
}

// parseInsecure reads --insecure-options; it returns whether image
// signatures are to be skipped.
func parseInsecure(opts []string) (bool, []string, error) {
	insecureImage := false
	var pull []string
	for _, o := range opts {
		switch o = strings.TrimSpace(o); o {
		case "image":
			insecureImage = true
		case "http", "tls":
			// Of a registry pull (podctl-fetch).
			pull = append(pull, o)
		case "all":
			insecureImage = true
			pull = append(pull, "http", "tls")
		case "none", "":
		default:
			return false, nil, fmt.Errorf("unknown --insecure-options value %q: podctl knows image, http, tls, all and none", o)
		}
	}
	return insecureImage, pull, nil
}

func (f *podFlags) options(args []string) (*stage0.PrepareOptions, error) {
	insecureImage, pull, err := parseInsecure(f.insecure)
	if err != nil {
		return nil, err
	}
	f.insecurePull = pull
	base := &stage0.PrepareOptions{}
	if f.podManifest != "" {
		if base, err = f.withPodManifest(args); err != nil {
			return nil, err
		}
	}
	lim, err := f.limits.limits()
	if err != nil {
		return nil, err
	}
	if err := checkUUIDFileSave(f.uuidFile); err != nil {
		return nil, err
	}
	users, err := f.sec.users()
	if err != nil {
		return nil, err
	}
	setEnv, inherit, err := f.environment()
	if err != nil {
		return nil, err
	}
	var apps []stage0.AppOptions
	// A mutable pod may start with no app: podctl app adds them.
	if base.PodManifest == nil && (len(args) > 0 || !f.mutable) {
		if apps, f.following, err = parseAppsNoting(f.apps.options(&stage0.AppOptions{}), args); err != nil {
			return nil, err
		}
	}
	return &stage0.PrepareOptions{
		PodManifest: base.PodManifest, Apps: apps, SetEnv: setEnv, InheritEnv: inherit, InsecureImage: insecureImage, ImageLimits: lim,
		Flavor: f.flavor, NoOverlay: f.noOverly, UUIDFileSave: f.uuidFile, Volumes: f.volumes,
		Name: f.name, Labels: f.labels, Annotations: f.annotations, SetEnvSecrets: f.secrets,
		Network: f.net.opts, Devices: f.sec.devices, PrivateUsers: users, Mutable: f.mutable,
	}, nil
}

// checkUUIDFileSave refuses a --uuid-file-save that cannot be written,
// before the pod exists: afterwards the error would name a temporary file
// and a pod that is removed again.
func checkUUIDFileSave(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--uuid-file-save %s: folder %s does not exist: make it first or choose another file", path, dir)
	case err != nil:
		return fmt.Errorf("--uuid-file-save %s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("--uuid-file-save %s: %s is not a folder", path, dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("--uuid-file-save %s: folder %s is not writable (%v): choose another file", path, dir, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("--uuid-file-save %s is a folder: give a file name", path)
	}
	return nil
}

const appSyntax = `Images are image IDs (or unique prefixes), names (name or name:version),
paths of ACI files or their https:// URLs. Flags after an image apply to
its app only; the next word that is no flag is the next image; words after
"--" replace the app's arguments, up to "---", which starts the next image:

  IMAGE [APP FLAGS] [IMAGE [APP FLAGS]]... [-- ARGS...] [--- IMAGE ...]...

--pod-manifest FILE runs the pod an appc pod manifest describes instead:
no image and no app flag may be given with it.

--name given before the first image names the pod; given after an image,
it names that image's app. A pod name is 1 to 63 lower-case letters,
digits and dashes that could not be the start of a UUID or read as a time
(so "web-1", not "beef" or "10m"); it is unique among the pods not yet
removed, and every command that takes a UUID takes it too.

--set-env-secret NAME=FILE (every app) and --environment-secret NAME=FILE
(one app) give the app the variable NAME with FILE's content, less one final
newline. podctl keeps only FILE's absolute path and reads the file each time
the pod starts: the value is never written to the data directory. Every
app also sees PODCTL_POD_UUID and PODCTL_POD_NAME (empty without --name).

--readonly-rootfs makes an app's root read-only (before the first image:
every app's), but for fresh /tmp and /run, its volumes and /etc/hosts.
--device gives every app a host device (native and systemd), such as

  podctl run --device=/dev/fuse --device=/dev/zero:/dev/myzero:r IMAGE --readonly-rootfs`

func newPrepare(g *globals) *cobra.Command {
	var f podFlags
	var quiet bool
	cmd := &cobra.Command{
		Use:   "prepare [flags] IMAGE [APP FLAGS] [-- ARGS...] [--- IMAGE...] | --pod-manifest FILE",
		Short: "Prepare a pod to run later with run-prepared",
		Long:  "Prepare a pod from one or more images and print its UUID as the last line.\n\n" + appSyntax + "\n\n" + imageTrustHelp,
		Example: `  podctl prepare --insecure-options=image ./busybox.aci --exec /bin/sleep -- 60
  podctl prepare --signatures=/srv/sigstore oci:./busybox:1.36 --exec /bin/true
  podctl run-prepared $(podctl prepare --quiet example.com/busybox)
  podctl prepare --name web --label tier=front example.com/busybox --name httpd && podctl run-prepared web`,
		Args: args(imageArgs(&f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(args)
			if err != nil {
				return err
			}
			c := g.config()
			c.InsecurePull = f.insecurePull
			if c.Signatures, err = signaturesFlag(f.signatures); err != nil {
				return err
			}
			p, err := stage0.Prepare(c, opts)
			if err != nil {
				return strayHint(limitHint(err), f.following)
			}
			defer p.Close()
			if err := p.ToPrepared(); err != nil {
				return err
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "prepared pod %s\n", p.UUID)
			}
			fmt.Fprintln(cmd.OutOrStdout(), p.UUID)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the UUID")
	return userNS(cmd)
}

func newRun(g *globals) *cobra.Command {
	var f podFlags
	var ro stage0.RunOptions
	var tf taskFlags
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [APP FLAGS] [-- ARGS...] [--- IMAGE...] | --pod-manifest FILE",
		Short: "Prepare and run a pod, exiting with its status",
		Long: `Prepare a pod from one or more images and run it in the foreground.

podctl run exits with the pod's status: the exit code of the first app that
failed (128+N if signal N killed it), or 0 when every app succeeded. It
exits 254 when podctl itself fails, with one line on stderr saying why.

Without root, the pod is rootless: native, in your own data directory and
user namespace (your /etc/subuid range), with no cgroup limits and --net=none
or host.

` + appSyntax + "\n\n" + imageTrustHelp,
		Example: `  podctl run --insecure-options=image ./busybox.aci --exec /bin/echo -- hello
  podctl run docker://registry.example.com/busybox@sha256:... --exec /bin/true
  podctl run example.com/busybox --exec /bin/sh -- -c 'exit 7'; echo $?   # 7
  podctl run img-a --- img-b --name second --exec /bin/true
  podctl run example.com/web example.com/db --name db --supplementary-gids 10,27
  podctl run --pod-manifest ./pod.json --uuid-file-save /run/pod.uuid
  podctl run --inherit-env --set-env-file ./job.env example.com/busybox --user /etc/passwd
  podctl run --name build-42 --label ci=yes --set-env-secret TOKEN=/run/secrets/token \
      example.com/busybox --exec /bin/sh -- -c '[ -n "$TOKEN" ] && echo "$PODCTL_POD_NAME"'
  podctl run --port=8080:80 --hostname=web example.com/busybox --exec /bin/busybox -- httpd -f -p 80
  podctl run --net=none example.com/busybox --exec /bin/true
  podctl run -d example.com/busybox --exec /bin/busybox -- httpd -f -p 80   # prints the UUID
  podctl run -d -i example.com/busybox --exec /bin/sh && podctl attach $UUID
  podctl run --mds-register example.com/busybox --exec /bin/sh -- -c 'wget -qO- $AC_METADATA_URL/acMetadata/v1/pod/uuid'`,
		Args: args(imageArgs(&f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(args)
			if err != nil {
				return err
			}
			if ro.Task, err = tf.task(); err != nil {
				return err
			}
			ro.Warn = warn
			c := g.config()
			c.InsecurePull = f.insecurePull
			if c.Signatures, err = signaturesFlag(f.signatures); err != nil {
				return err
			}
			run := func() error {
				code, err := stage0.PrepareAndRun(c, opts, ro)
				if err != nil {
					return strayHint(limitHint(err), f.following)
				}
				return exitStatus(code)
			}
			if detach {
				return runDetach(cmd, c, &ro, func(h func(*lifecycle.Pod) error) { opts.Created = h }, run)
			}
			return run()
		},
	}
	f.add(cmd)
	tf.add(cmd)
	cmd.Flags().BoolVarP(&ro.Interactive, "interactive", "i", false, "give the pod's single app the terminal (its output then bypasses the logs)")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, detachUsage)
	return userNS(cmd)
}

func newRunPrepared(g *globals) *cobra.Command {
	var ro stage0.RunOptions
	var tf taskFlags
	var detach bool
	cmd := &cobra.Command{
		Use:     "run-prepared UUID",
		Short:   "Run a prepared pod, exiting with its status",
		Long:    "Run a pod made by podctl prepare. The exit status is that of podctl run.",
		Example: "  podctl run-prepared 5b1f2c3d\n  podctl run-prepared -d $(podctl prepare --quiet example.com/busybox --exec /bin/sleep -- 600)",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if ro.Task, err = tf.task(); err != nil {
				return err
			}
			ro.Warn = warn
			run := func() error {
				code, err := stage0.RunPrepared(g.config(), args[0], ro)
				if err != nil {
					return err
				}
				return exitStatus(code)
			}
			if detach {
				return runDetach(cmd, g.config(), &ro, func(h func(*lifecycle.Pod) error) { ro.Locked = h }, run)
			}
			return run()
		},
	}
	tf.add(cmd)
	cmd.Flags().BoolVarP(&ro.Interactive, "interactive", "i", false, "give the pod's single app the terminal (its output then bypasses the logs)")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, detachUsage)
	return userNS(cmd)
}

// imageArgs wants an image, unless the pod is --mutable: such a pod may
// start with none.
func imageArgs(f *podFlags) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if f.mutable {
			return nil
		}
		return imagesOrPodManifest(cmd, a)
	}
}
