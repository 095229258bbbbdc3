package stage0

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema/types"

	"podctl/internal/errdefs"
	"podctl/lifecycle"
	"podctl/stage1/logs"
)

// LogsOptions are the choices of podctl logs.
type LogsOptions struct {
	// App is the app whose log to print; empty for a pod of one app.
	App string
	// Tail is how many lines from the end to print; -1 for all.
	Tail int
	// Follow keeps printing what the app writes until the pod exits.
	Follow bool
}

// Logs prints an app's log: each line to the stream (stdout or stderr) it
// was written to. It works while the pod runs and after it exits, until
// the pod is removed.
func Logs(ctx context.Context, c Config, id string, opts LogsOptions, stdout, stderr io.Writer) error {
	p, err := c.OpenPod(id)
	if err != nil {
		return err
	}
	defer p.Close()
	_, m, err := p.PodManifest()
	if err != nil {
		return err
	}
	app := opts.App
	if app == "" {
		if len(m.Apps) != 1 {
			var names []string
			for _, ra := range m.Apps {
				names = append(names, ra.Name.String())
			}
			return errdefs.New(ErrUsage, "pod %s has several apps (%s): choose one with --app", p.UUID, strings.Join(names, ", "))
		}
		app = m.Apps[0].Name.String()
	} else if m.Apps.Get(types.ACName(app)) == nil {
		var names []string
		for _, ra := range m.Apps {
			names = append(names, ra.Name.String())
		}
		return errdefs.New(ErrUsage, "pod %s has no app %q (it has %s)", p.UUID, app, strings.Join(names, ", "))
	}
	// The pod may move between state folders while we follow it; the log
	// is read through the directory we hold open.
	r, err := logs.OpenReader(filepath.Join(fmt.Sprintf("/proc/self/fd/%d", p.LockFile().Fd()), lifecycle.AppDir(app)))
	if err != nil {
		return err
	}
	defer r.Close()
	es, err := r.Next()
	if err != nil {
		return err
	}
	if err := logs.Print(logs.Tail(es, opts.Tail), stdout, stderr); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	for {
		cur, err := p.Refresh()
		if err != nil {
			return err
		}
		running := !cur.IsFinished()
		cur.Close()
		if !running {
			// The log is complete once the pod has exited: read what is left.
			es, err := r.Next()
			if err != nil {
				return err
			}
			return logs.Print(es, stdout, stderr)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		es, err := r.Next()
		if err != nil {
			return err
		}
		if err := logs.Print(es, stdout, stderr); err != nil {
			return err
		}
	}
}
