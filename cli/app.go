package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"podctl/stage0"
)

// newApp is `podctl app`, the verbs of a mutable pod's apps.
func newApp(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Add, start, stop, remove and list the apps of a running mutable pod",
		Long: `A mutable pod (podctl run --mutable, or prepare --mutable and
run-prepared) stays up, with no app or some, until podctl stop ends it.
While it runs, app add puts an app into it (created, not started), app
start starts one, app stop stops one (SIGTERM, then SIGKILL after 10 s)
and app rm stops and removes one. Each app has its own status, exit code
and log (podctl logs --app). Mutable pods run on the native and systemd
flavors.`,
		Example: `  podctl run --mutable --uuid-file-save=/run/pod.uuid &
  podctl app add --uuid-file=/run/pod.uuid example.com/busybox --name web --exec /bin/httpd -- -f -p 80
  podctl app start --uuid-file=/run/pod.uuid --app=web
  podctl app list --uuid-file=/run/pod.uuid`,
		// Without this, cobra would print the help for an unknown verb
		// and exit 0.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return fmt.Errorf("podctl app has no verb %q: see podctl app --help", a[0])
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newAppAdd(g), newAppVerb(g, "start", "Start an app of a mutable pod", stage0.StartApp),
		newAppVerb(g, "stop", "Stop an app of a mutable pod; the pod goes on", stage0.StopApp),
		newAppVerb(g, "rm", "Stop an app of a mutable pod if it runs, and remove it", stage0.RemoveApp),
		newAppList(g), newAppStatus(g), newAppExec(g))
	return cmd
}

// podArg is the pod a verb names: its argument or --uuid-file.
func podArg(cmd *cobra.Command, a []string, uuidFile string) (string, error) {
	ids, err := podArgs(cmd, a, uuidFile)
	if err != nil {
		return "", err
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("%s acts on one pod: see %s --help", cmd.CommandPath(), cmd.CommandPath())
	}
	return ids[0], nil
}

func newAppAdd(g *globals) *cobra.Command {
	var insecure []string
	var uuidFile string
	cmd := &cobra.Command{
		Use:   "add UUID IMAGE [APP FLAGS] [-- ARGS...]",
		Short: "Add an app to a running mutable pod, not started",
		Long: `Add an app to a running mutable pod. The image and the app flags are those
of podctl run; the app mounts the pod's volumes. The app is created, not
started: start it with podctl app start. It prints the app's name.`,
		Example: `  podctl app add 5b1f2c3d example.com/busybox --name web --exec /bin/sleep -- 600
  podctl app add --uuid-file=/run/pod.uuid --insecure-options=image ./busybox.aci --name job`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var id string
			if uuidFile == "" {
				id, a = a[0], a[1:]
			} else {
				var err error
				if id, err = podArg(cmd, nil, uuidFile); err != nil {
					return err
				}
			}
			insecureImage, _, err := parseInsecure(insecure)
			if err != nil {
				return err
			}
			if len(a) == 0 {
				return fmt.Errorf("app add needs an image after the pod: see %s --help", cmd.CommandPath())
			}
			apps, err := parseApps(stage0.AppOptions{}, a)
			if err != nil {
				return err
			}
			if len(apps) != 1 {
				return fmt.Errorf("app add adds one app: leave out \"---\" and add each app with its own app add")
			}
			name, err := stage0.AddApp(g.config(), id, apps[0], insecureImage)
			if err != nil {
				return limitHint(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), name)
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringSliceVar(&insecure, "insecure-options", nil, "checks to skip: image (use an image without a verified signature)")
	addUUIDFile(cmd, &uuidFile)
	return rootOnly(cmd)
}

func newAppVerb(g *globals, verb, short string, do func(stage0.Config, string, string) error) *cobra.Command {
	var app, uuidFile string
	cmd := &cobra.Command{
		Use:     verb + " UUID --app=NAME",
		Short:   short,
		Example: fmt.Sprintf("  podctl app %s 5b1f2c3d --app=web", verb),
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := podArg(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			return do(g.config(), id, app)
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "the app's name")
	addUUIDFile(cmd, &uuidFile)
	return rootOnly(cmd)
}

func newAppList(g *globals) *cobra.Command {
	var format, uuidFile string
	var noLegend bool
	cmd := &cobra.Command{
		Use:   "list UUID",
		Short: "List the apps of a pod with their states",
		Long: `List the apps of a pod: NAME, STATE (created, running, exited), EXIT (the
code of its last run, once it has one) and REASON, or JSON with --format.`,
		Example: `  podctl app list 5b1f2c3d
  podctl app list --format=json 5b1f2c3d | jq -r '.[] | select(.state == "running") | .name'`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := podArg(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			apps, err := stage0.AppList(g.config(), id)
			if err != nil {
				return err
			}
			if ok, err := printJSON(cmd.OutOrStdout(), format, apps); ok {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			if !noLegend {
				fmt.Fprintln(tw, "NAME\tSTATE\tEXIT\tREASON")
			}
			for _, ai := range apps {
				code, reason := "-", "-"
				if ai.ExitCode != nil {
					code = fmt.Sprint(*ai.ExitCode)
				}
				if ai.Reason != "" {
					reason = ai.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ai.Name, ai.State, code, reason)
			}
			return tw.Flush()
		},
	}
	addFormat(cmd, &format)
	cmd.Flags().BoolVar(&noLegend, "no-legend", false, "leave out the header line")
	addUUIDFile(cmd, &uuidFile)
	return cmd
}

func newAppStatus(g *globals) *cobra.Command {
	var format, app, uuidFile string
	cmd := &cobra.Command{
		Use:   "status UUID --app=NAME",
		Short: "Show the state of one app of a pod",
		Long: `Show one app's state as key=value lines (or JSON with --format): name,
state (created, running, exited), image_id, started_at, finished_at and
exit_code, reason and message of its last run once it has ended.`,
		Example: `  podctl app status 5b1f2c3d --app=web
  podctl app status --format=json 5b1f2c3d --app=web | jq .exit_code`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := podArg(cmd, a, uuidFile)
			if err != nil {
				return err
			}
			if app == "" {
				return fmt.Errorf("name the app with --app: see %s --help", cmd.CommandPath())
			}
			ai, err := stage0.AppStatus(g.config(), id, app)
			if err != nil {
				return err
			}
			if ok, err := printJSON(cmd.OutOrStdout(), format, ai); ok {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "name=%s\nstate=%s\nimage_id=%s\n", ai.Name, ai.State, ai.ImageID)
			if ai.StartedAt != nil {
				fmt.Fprintf(w, "started_at=%s\n", absTime(ai.StartedAt))
			}
			if ai.FinishedAt != nil {
				fmt.Fprintf(w, "finished_at=%s\n", absTime(ai.FinishedAt))
			}
			if ai.ExitCode != nil {
				fmt.Fprintf(w, "exit_code=%d\n", *ai.ExitCode)
			}
			if ai.Reason != "" {
				fmt.Fprintf(w, "reason=%s\n", ai.Reason)
			}
			if ai.Message != "" {
				fmt.Fprintf(w, "message=%s\n", ai.Message)
			}
			return nil
		},
	}
	addFormat(cmd, &format)
	cmd.Flags().StringVar(&app, "app", "", "the app's name")
	addUUIDFile(cmd, &uuidFile)
	return cmd
}

func newAppExec(g *globals) *cobra.Command {
	var app string
	cmd := &cobra.Command{
		Use:   "exec --app=NAME UUID CMD [ARGS...]",
		Short: "Run a command inside a running app of a pod",
		Long:  "Run a command in the root, environment and confinement of a running app, as podctl enter does, and exit with its status.",
		Example: `  podctl app exec --app=web 5b1f2c3d cat /etc/hostname
  podctl app exec --app=web 5b1f2c3d /bin/sh -c 'echo $AC_APP_NAME'`,
		Args: args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return enter(g, a[0], app, a[1:])
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&app, "app", "", "the app to run in (needed when the pod has several)")
	return cmd
}
