package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"podctl/stage0"
)

// imageVerbs are the image verbs that write an image out or name it:
// export, extract, render, inspect and tag.
func imageVerbs(g *globals) []*cobra.Command {
	return []*cobra.Command{newImageExport(g), newImageExtract(g, false), newImageExtract(g, true), newImageInspect(g), newImageTag(g)}
}

const imageListExamples = `  podctl image list --format=json
  podctl image list --filter name='example.com/*' --filter label=arch=amd64,since=1h
  podctl image list --no-legend --filter before=example.com/busybox:1.0 | awk '{print $1}'
  podctl image list --fields=id,name,size,latest --full`

func newImageExport(g *globals) *cobra.Command {
	var overwrite, quiet bool
	cmd := &cobra.Command{
		Use:   "export IMAGE FILE",
		Short: "Write a stored image to an ACI file or an OCI archive",
		Long: `Write a stored image to FILE: an ACI as the store keeps it (an uncompressed
tar), or, for an OCI or Docker image, an OCI archive (its manifest, config
and layers). Fetching FILE (oci-archive:FILE for an OCI archive) gives the
same image ID. FILE is written aside and renamed into place once whole and
on disk, so it is never half written. An existing FILE is refused unless
--overwrite is given.

Progress goes to stderr: a bar per blob on a terminal once a copy takes
more than a moment, a line per blob elsewhere, nothing with --quiet.`,
		Example: `  podctl image export example.com/busybox:1.0 busybox.aci
  podctl image export --overwrite sha512-a4823564a736 /backup/busybox.aci
  podctl image export --quiet docker.io/library/busybox:1.36 busybox.oci.tar`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c := g.config()
			c.Quiet = quiet
			return stage0.ExportImage(c, a[0], a[1], overwrite)
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace FILE if it exists")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	return cmd
}

func newImageExtract(g *globals, render bool) *cobra.Command {
	var rootfsOnly bool
	cmd := &cobra.Command{
		Use:   "extract IMAGE DIR",
		Short: "Write an image's files into a folder",
		Long: `Write the files of the image's ACI into DIR: its manifest and rootfs/, or
with --rootfs-only the root filesystem alone. DIR must not exist, or be an
empty folder; it is filled aside and renamed into place once whole.

Entries go through the store's extractor, which never writes through a
symlink or outside DIR. Owners, modes, times and extended attributes are
kept; device nodes are left out, as in the trees pods use.

extract writes what the image holds; render writes what a pod's apps see.
See podctl image render --help.`,
		Example: `  podctl image extract example.com/busybox ./busybox
  podctl image extract --rootfs-only sha512-a4823564a736 ./rootfs`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return stage0.ExtractImage(g.config(), a[0], a[1], rootfsOnly, render)
		},
	}
	if render {
		cmd.Use = "render IMAGE DIR"
		cmd.Short = "Write the root filesystem pods of an image see into a folder"
		cmd.Long = `Write the image as pods use it, its rendered tree, into DIR: its manifest
and rootfs/, or with --rootfs-only the root filesystem alone. DIR must not
exist, or be an empty folder; it is filled aside and renamed into place
once whole, through the extractor the store renders trees with.

render gives what a pod's apps see; extract gives what the image holds.
For an appc image with dependencies, render would lay them under the
image's own files; podctl refuses such images at import, so for every
image in the store today both give the same files.`
		cmd.Example = `  podctl image render example.com/busybox ./busybox
  podctl image render --rootfs-only example.com/busybox ./rootfs && ls ./rootfs/bin`
	}
	cmd.Flags().BoolVar(&rootfsOnly, "rootfs-only", false, "write only the root filesystem into DIR, without the manifest")
	return userNS(cmd)
}

func newImageInspect(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Print what the store knows of an image, as JSON",
		Long: `Print the image's record (ID, name, labels, tags, times, size), its format
and its manifest as one JSON object. "config" is an OCI image's
configuration, null for an appc image. "verified" says how an OCI or Docker
image was checked when last imported: {"by": "signature", "signer": KEY}
(a simple-signing signature by that key), {"by": "digest"} (pinned by its
manifest's digest) or {"by": "none"} (--insecure-options=image).`,
		Example: `  podctl image inspect example.com/busybox
  podctl image inspect --format=json sha512-a4823564a736 | jq -r .manifest.app.exec[0]`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if format == "" || format == "text" {
				format = "json-pretty"
			}
			if format != "json" && format != "json-pretty" {
				return fmt.Errorf("unknown --format %q: use json or json-pretty", format)
			}
			info, err := stage0.InspectImage(g.config(), a[0])
			if err != nil {
				return err
			}
			_, err = printJSON(cmd.OutOrStdout(), format, info)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "json-pretty", "output format: json or json-pretty")
	return cmd
}

func newImageTag(g *globals) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "tag IMAGE NAME[:VERSION]",
		Short: "Give an image another name",
		Long: `Give the image another name, NAME or NAME:VERSION, by which run,
prepare and every image command find it as if its manifest had that name
(and version label). The newest of the images and tags matching a name
wins, a tag counting from when it was given. A tag names one image:
tagging again moves it. It prints the image's ID.

image list shows each tag as a line of its own (and "tags" in JSON).
image rm NAME[:VERSION], given a tag exactly, removes the tag only, as
docker rmi does; removing the image (by ID or by its own name) removes its
tags.`,
		Example: `  podctl image tag example.com/busybox:1.0 example.com/busybox:stable
  podctl run example.com/busybox:stable
  podctl image rm example.com/busybox:stable    # the tag only`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := stage0.TagImage(g.config(), a[0], a[1])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), shortID(id, full))
			return nil
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "print the whole image ID")
	return userNS(cmd)
}
