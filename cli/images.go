package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/shlex"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"podctl/stage0"
	"podctl/store"
)

// limitFlags are the flags of the commands that import images: what one
// image may cost.
type limitFlags struct {
	size    string
	entries int64
}

func (l *limitFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&l.size, "max-image-size", store.FormatSize(store.DefaultMaxSize), "refuse an image larger than this uncompressed (sparse files count whole), such as 512M or 20G")
	fs.Int64Var(&l.entries, "max-image-entries", store.DefaultMaxEntries, "refuse an image with more entries (files, folders, links) than this")
}

func (l *limitFlags) limits() (store.Limits, error) {
	size, err := store.ParseSize(l.size)
	if err != nil {
		return store.Limits{}, fmt.Errorf("--max-image-size: %v", err)
	}
	if l.entries <= 0 {
		return store.Limits{}, fmt.Errorf("--max-image-entries=%d: give a number above zero", l.entries)
	}
	return store.Limits{MaxSize: size, MaxEntries: l.entries}, nil
}

// limitHint tells how to raise the limit an image was refused for.
func limitHint(err error) error {
	var le *store.LimitError
	if !errors.As(err, &le) {
		return err
	}
	flag := "--max-image-size=SIZE"
	if le.Entries {
		flag = "--max-image-entries=N"
	}
	return fmt.Errorf("%w: if you trust the image, raise the limit with %s", err, flag)
}

// signaturesUsage describes --signatures.
const signaturesUsage = "where the simple-signing signatures of OCI and Docker images are, a folder or a file://, https:// or http:// URL laid out as NAME@sha256=HEX/signature-N, instead of DATA/signatures and registries.json's lookaside"

// imageTrustHelp tells how OCI and Docker images are checked.
const imageTrustHelp = `An image is used only if it can be trusted, unless --insecure-options=image
(or all) skips the check. An ACI needs a detached signature FILE.asc by a
key trusted for its name (podctl trust). An OCI or Docker image is taken
when it is pinned by its manifest's digest (docker://HOST/NAME@sha256:HEX,
oci:DIR@sha256:HEX, oci-archive:FILE@sha256:HEX), or when a simple-signing
signature (skopeo standalone-sign, podman image sign) by a key trusted for
its repository vouches for its manifest digest and its identity: HOST/NAME:TAG
for a registry image, NAME:TAG as image list names it for an OCI layout or
archive. Signatures are read as NAME@sha256=HEX/signature-1, -2, ... from
DATA/signatures, then, for a registry image, from the "lookaside" URL that
DATA/registries.json gives its registry; --signatures=DIR|URL replaces
both. A docker save archive can only be taken with --insecure-options=image.`

// signaturesFlag checks --signatures: a URL is passed on as it is, a
// folder made absolute (podctl-fetch reads it).
func signaturesFlag(v string) (string, error) {
	if v == "" || strings.Contains(v, "://") {
		return v, nil
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return "", fmt.Errorf("--signatures %s: %w", v, err)
	}
	return abs, nil
}

func newFetch(g *globals) *cobra.Command {
	var insecure []string
	var signatures string
	var full bool
	var pullPolicy string
	var quiet bool
	var lf limitFlags
	cmd := &cobra.Command{
		Use:   "fetch IMAGE...",
		Short: "Import images into the image store",
		Long: `Import images into the store and print each image's ID, sha512- and 12
hex digits (whole with --full), which every command taking an image
accepts. An image is an appc ACI file (plain, gzip, bzip2 or xz tar), an
OCI image layout (oci:DIR[:TAG|@sha256:HEX]), an OCI archive
(oci-archive:FILE[:TAG|@sha256:HEX]) or a docker save archive (docker-archive:FILE[:NAME:TAG]), or pulls an image
from a registry (docker://HOST/NAME[:TAG|@DIGEST], over HTTPS unless
--insecure-options=http; tls skips certificate checks). An ACI is also
fetched from its https:// URL (its signature at URL.asc), and an image
name that is no file, HOST/NAME[:VERSION], is found by appc discovery.
The same image imported twice is stored once, and so is a layer two
images share.

` + imageTrustHelp,
		Example: `  podctl fetch --insecure-options=image ./busybox.aci
  podctl trust --prefix=example.com/busybox key.asc
  podctl fetch oci:./busybox:1.36          # signed as example.com/busybox:1.36
  podctl fetch --signatures=/srv/sigstore oci-archive:busybox.tar:1.36
  podctl fetch docker://registry.example.com/busybox:1.36
  podctl fetch --insecure-options=http docker://127.0.0.1:5000/busybox@sha256:...
  podctl fetch --insecure-options=image docker-archive:busybox.tar
  podctl fetch https://images.example.com/busybox-1.0.aci
  podctl fetch example.com/busybox:1.0     # appc discovery`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			insecureImage, pull, err := parseInsecure(insecure)
			if err != nil {
				return err
			}
			lim, err := lf.limits()
			if err != nil {
				return err
			}
			c := g.config()
			c.InsecurePull, c.Quiet = pull, quiet
			if c.Signatures, err = signaturesFlag(signatures); err != nil {
				return err
			}
			if c.PullPolicy, err = stage0.ParsePullPolicy(pullPolicy); err != nil {
				return err
			}
			imgs, err := stage0.Fetch(c, args, insecureImage, lim)
			for _, img := range imgs {
				fmt.Fprintln(cmd.OutOrStdout(), shortID(img.ID, full))
			}
			return limitHint(err)
		},
	}
	cmd.Flags().StringSliceVar(&insecure, "insecure-options", nil, "checks to skip: image (import images without a verified signature), http, tls, all")
	cmd.Flags().StringVar(&signatures, "signatures", "", signaturesUsage)
	cmd.Flags().BoolVar(&full, "full", false, "print whole image IDs")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr (a bar per layer on a terminal, a line per layer elsewhere)")
	cmd.Flags().StringVar(&pullPolicy, "pull-policy", stage0.PullNew, "when a registry image (docker://) is pulled: never (the store only), new (unless the store has it) or update (always)")
	lf.add(cmd.Flags())
	return userNS(cmd)
}

func newImage(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the image store",
		Example: `  podctl image list
  podctl image import ./rootfs --name example.com/tools --exec /bin/sh
  podctl image gc --grace-period=0s`,
		// Without this, an unknown subcommand would print help and exit 0.
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return fmt.Errorf("image has no command %q: see podctl image --help", a[0])
			}
			return fmt.Errorf("image needs a command (list, rm, cat-manifest, gc, import, export, extract, render, inspect, tag): see podctl image --help")
		},
	}
	cmd.AddCommand(newImageList(g), newImageRm(g), newImageCatManifest(g), newImageGC(g), newImageImport(g))
	cmd.AddCommand(imageVerbs(g)...)
	return cmd
}

func newImageList(g *globals) *cobra.Command {
	var format string
	var full, noLegend bool
	var filters []string
	fields := defaultImageFields
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List images in the store",
		Example: imageListExamples,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := stage0.ParseImageFilter(g.config(), filters)
			if err != nil {
				return err
			}
			imgs, err := stage0.ListImagesMatching(g.config(), filter)
			if err != nil {
				return err
			}
			sort.Slice(imgs, func(i, j int) bool { return imgs[i].ImportTime.Before(imgs[j].ImportTime) })
			if ok, err := printJSON(cmd.OutOrStdout(), format, imgs); ok {
				return err
			}
			cols, err := parseImageFields(fields)
			if err != nil {
				return err
			}
			c := &imageCtx{full: full, now: time.Now(), latest: latestImages(imgs)}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			if !noLegend {
				var hs []string
				for _, f := range cols {
					hs = append(hs, f.header)
				}
				fmt.Fprintln(tw, strings.Join(hs, "\t"))
			}
			for i := range imgs {
				for _, row := range imageRows(&imgs[i], cols, c) {
					fmt.Fprintln(tw, strings.Join(row, "\t"))
				}
			}
			return tw.Flush()
		},
	}
	addFormat(cmd, &format)
	cmd.Flags().BoolVar(&full, "full", false, "show whole image IDs")
	cmd.Flags().BoolVar(&noLegend, "no-legend", false, "leave out the header line")
	cmd.Flags().StringSliceVar(&fields, "fields", fields, "the columns, in order: id,name,importtime,lastused,size,latest (rkt's), format, reference")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "show only the images that match: name=PATTERN, label=KEY[=VALUE], before=IMAGE|TIME, since=IMAGE|TIME (repeatable, or comma-separated)")
	return cmd
}

func agoOrNever(t *time.Time, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return ago(t, now)
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newImageRm(g *globals) *cobra.Command {
	var full, force bool
	cmd := &cobra.Command{
		Use:   "rm IMAGE...",
		Short: "Remove images from the store",
		Long: `Remove images by ID, ID prefix or name, with their tags. An image that a
preparing, prepared or running pod uses is refused, naming the pods, unless
--force is given. A pod that uses a removed image keeps working: the
image's tree stays until image gc finds it unused. An argument that is
exactly a tag (see image tag) removes the tag only.`,
		Example: `  podctl image rm sha512-1a2b3c
  podctl image rm example.com/busybox:1.36
  podctl image rm --force example.com/busybox`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			removed, err := stage0.RemoveImages(g.config(), args, force)
			for _, r := range removed {
				if r.Untagged != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "untagged %s (image %s)\n", r.Untagged, shortID(r.ID, full))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed image %s\n", shortID(r.ID, full))
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "print whole image IDs")
	cmd.Flags().BoolVar(&force, "force", false, "remove images that preparing, prepared or running pods use")
	return userNS(cmd)
}

func newImageCatManifest(g *globals) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:     "cat-manifest IMAGE",
		Short:   "Print an image's manifest",
		Example: `  podctl image cat-manifest example.com/busybox`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := stage0.ImageManifest(g.config(), args[0])
			if err != nil {
				return err
			}
			return printRawJSON(cmd, b, pretty)
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty-print", true, "indent the JSON")
	return cmd
}

func newImageGC(g *globals) *cobra.Command {
	var grace time.Duration
	var full bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove unused images and trees",
		Long: `Remove rendered trees that no pod uses, and images that no pod uses and
that have not been used for --grace-period.`,
		Example: `  podctl image gc --grace-period=0s`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			removed, err := stage0.ImageGC(g.config(), grace)
			for _, id := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", shortID(id, full))
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&grace, "grace-period", 24*time.Hour, "how long an unused image is kept after its last use")
	cmd.Flags().BoolVar(&full, "full", false, "print whole image IDs")
	return userNS(cmd)
}

func newImageImport(g *globals) *cobra.Command {
	var name, exec string
	var full bool
	var labels []string
	var lf limitFlags
	cmd := &cobra.Command{
		Use:   "import DIR|TARBALL --name NAME [--exec CMD]",
		Short: "Make an image from a root filesystem",
		Long: `Make an appc image from a folder or a tarball (plain, gzip, bzip2 or xz)
holding a root filesystem, as podman import does, and print its ID.`,
		Example: `  podctl image import ./rootfs --name example.com/busybox --exec "/bin/sh -c 'echo hi'"
  podctl image import rootfs.tar.gz --name example.com/tools --label version=1.0`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return fmt.Errorf("an image needs a name: give one with --name")
			}
			lm := map[string]string{}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok {
					return fmt.Errorf("label %q is not KEY=VALUE", l)
				}
				lm[k] = v
			}
			argv, err := shlex.Split(exec)
			if err != nil {
				return fmt.Errorf("--exec %q: %v", exec, err)
			}
			lim, err := lf.limits()
			if err != nil {
				return err
			}
			img, err := stage0.ImportRootfs(g.config(), args[0], name, argv, lm, lim)
			if err != nil {
				return limitHint(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), shortID(img.ID, full))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "image name, such as example.com/busybox")
	cmd.Flags().StringVar(&exec, "exec", "", "command the image runs, split into words as a shell would")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "KEY=VALUE label, such as version=1.0 (repeatable)")
	cmd.Flags().BoolVar(&full, "full", false, "print the whole image ID")
	lf.add(cmd.Flags())
	return userNS(cmd)
}
