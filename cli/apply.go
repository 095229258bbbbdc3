package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"podctl/apply"
)

func newApply(g *globals) *cobra.Command {
	var opts apply.Options
	var format string
	cmd := &cobra.Command{
		Use:   "apply FILE|FOLDER",
		Short: "Make pods run as their pod files say",
		Long: `Make the pods of pod files run as the files say: FILE, or every *.pod file
of FOLDER (not below it). For each file:

  no pod has its name      the pod is started (in the background: it
                           outlives apply) and apply waits until it is ready
  its pod matches it       it is left alone
  the file has changed     its pod is stopped with the file's grace period,
  (or its pod has ended)   removed, and started again, keeping its name
  the file is gone         the pod apply made from it is stopped and removed

A pod records its file and the file's digest (sha256 of its bytes); list
and status show them, and list --filter source=PATH selects by them. A file
that cannot be read or applied (a syntax error, an unknown field or image,
a name another pod holds, two files with one name) is told in one line and
leaves its pod as it was; the other files are still applied, and apply exits
254. Each pod name has a lock: two applies at once end with one pod a file.

A pod file is YAML: podctl's form, a Kubernetes v1 Pod, or an appc pod
manifest. Its name is the file's name without .pod unless the file names it.
podctl's form (every field optional but apps and image):

  name: web
  stage1: native                 # the flavor
  labels: {tier: front}
  annotations: {owner: ops}
  restart: always                # no, on-failure[:MAX] or always (default)
  restartBackoff: 10s            # as --restart-backoff
  ready: started                 # or notify
  stopGracePeriod: 10s
  net: [default]                 # as --net; hostname, ports (as --port) too
  volumes: [{name: data, kind: host, source: /srv/data, readOnly: true}]
  insecureOptions: [image]       # take image files without a signature
  apps:
    - name: httpd
      image: example.com/busybox # a name, an ID, or file.aci beside the pod file
      exec: /bin/busybox
      args: [httpd, -f, -p, "80"]
      env: {MODE: prod}
      mounts: [{volume: data, target: /data}]
      user: "0"                  # group, workingDir too
      memory: 64M
      cpu: 500m
      readOnlyRootfs: true       # capsRetain, capsRemove, noNewPrivileges too

Of a Kubernetes Pod, podctl reads metadata (name, labels, annotations) and
spec: containers (name, image, command, args, env, workingDir, ports with a
hostPort, volumeMounts, resources, securityContext), volumes (hostPath,
emptyDir), restartPolicy, terminationGracePeriodSeconds, hostname and
hostNetwork; the annotations podctl.io/stage1, podctl.io/net, podctl.io/ready
and podctl.io/insecure-options say what a Pod has no field for. Any other
field is refused with its line.`,
		Example: `  podctl apply /etc/podctl/pods
  podctl apply --dry-run /etc/podctl/pods
  podctl apply ./web.pod
  podctl apply --format=json /etc/podctl/pods | jq -r '.[] | select(.action == "fail") | .error'
  podctl list --filter source=/etc/podctl/pods`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if _, err := printJSON(io.Discard, format, nil); err != nil {
				return err
			}
			opts.Exe = "/proc/self/exe"
			quiet := format != "" && format != "text"
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			opts.Report = func(act apply.Action) {
				if act.Do == apply.DoFail {
					fmt.Fprintf(stderr, "podctl: %s\n", act.Error)
				} else if !quiet {
					fmt.Fprintln(stdout, actionText(act))
				}
			}
			done, err := apply.Apply(g.config(), a[0], opts)
			if done == nil {
				done = []apply.Action{}
			}
			if ok, jerr := printJSON(stdout, format, done); ok && jerr != nil {
				return jerr
			}
			if errors.Is(err, apply.ErrFailed) {
				// Each failure has been said, in its line.
				return exitStatus(ExitError)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would be done, and do nothing")
	cmd.Flags().DurationVar(&opts.ReadyTimeout, "ready-timeout", 2*time.Minute, "how long a started pod may take to be ready before it is stopped and removed")
	addFormat(cmd, &format)
	return rootOnly(cmd)
}

// actionText is an action as apply prints it.
func actionText(a apply.Action) string {
	would := ""
	if a.DryRun {
		would = "would "
	}
	short := func(id string) string { return id[:min(len(id), 8)] }
	switch a.Do {
	case apply.DoStart:
		if a.DryRun {
			return fmt.Sprintf("would start %s from %s", a.Name, a.File)
		}
		return fmt.Sprintf("started %s (pod %s) from %s", a.Name, short(a.UUID), a.File)
	case apply.DoKeep:
		return fmt.Sprintf("unchanged %s (pod %s): %s", a.Name, short(a.UUID), a.Reason)
	case apply.DoReplace:
		if a.DryRun {
			return fmt.Sprintf("would replace %s (pod %s) from %s: %s", a.Name, short(a.Replaced), a.File, a.Reason)
		}
		return fmt.Sprintf("replaced %s (pod %s, was %s) from %s: %s", a.Name, short(a.UUID), short(a.Replaced), a.File, a.Reason)
	case apply.DoPrune:
		if a.DryRun {
			return fmt.Sprintf("would prune %s (pod %s): %s", a.Name, short(a.UUID), a.Reason)
		}
		return fmt.Sprintf("pruned %s (pod %s): %s", a.Name, short(a.UUID), a.Reason)
	}
	return fmt.Sprintf("%s%s %s: %s", would, a.Do, a.Name, a.Reason)
}

// newSystemdGenerator is the systemd generator of dist/systemd: systemd
// runs it at boot and on daemon-reload with its three output folders.
func newSystemdGenerator() *cobra.Command {
	var pods, exe string
	cmd := &cobra.Command{
		Use:    "systemd-generator NORMAL-DIR [EARLY-DIR LATE-DIR]",
		Short:  "Write a systemd service for each pod file (run by systemd)",
		Hidden: true,
		Long: `Write into NORMAL-DIR one service, podctl-NAME.service, for each pod
file of --pods, wanted by multi-user.target: started, it applies its file
(podctl apply FILE); stopped, it stops and removes the pod. systemd runs
this as a generator (dist/systemd/podctl-generator) at boot and on
systemctl daemon-reload.`,
		Example: `  podctl systemd-generator /run/systemd/generator /run/systemd/generator.early /run/systemd/generator.late
  podctl systemd-generator --pods ./pods /tmp/units && systemd-analyze verify /tmp/units/podctl-*.service`,
		Args: args(func(cmd *cobra.Command, a []string) error {
			if len(a) != 1 && len(a) != 3 {
				return fmt.Errorf("one or three folders")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, a []string) error {
			return apply.Generate(pods, a[0], exe, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&pods, "pods", apply.DefaultPodsDir, "the folder of pod files")
	cmd.Flags().StringVar(&exe, "podctl", "/usr/bin/podctl", "the podctl the units run")
	return cmd
}
