package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"podctl/stage1"
)

// taskFlags are the flags of run and run-prepared that make a pod a task
// or a workload: its time limit, its standard input and its restarts.
type taskFlags struct {
	timeout time.Duration
	stdin   bool
	restart string
	backoff time.Duration
	ready   string
}

func (t *taskFlags) add(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&t.timeout, "timeout", 0, "end the pod when it has run this long (exit 124, result timeout); 0 is no limit")
	cmd.Flags().BoolVar(&t.stdin, "stdin", false, "feed podctl's standard input to the first app (without a terminal)")
	cmd.Flags().StringVar(&t.restart, "restart", stage1.RestartNo, "restart apps that end: no, on-failure[:MAX] or always")
	cmd.Flags().DurationVar(&t.backoff, "restart-backoff", stage1.DefaultRestartBackoff, "wait before the first restart; it doubles with each one, up to 5m")
	cmd.Flags().StringVar(&t.ready, "ready", "started", "when an app is ready: started, or notify (once it sends READY=1 on $NOTIFY_SOCKET)")
}

// task checks the flags and returns the pod's Task.
func (t *taskFlags) task() (stage1.Task, error) {
	if t.timeout < 0 {
		return stage1.Task{}, fmt.Errorf("--timeout=%s is negative: give a duration such as 30s or 2h", t.timeout)
	}
	if t.backoff <= 0 {
		return stage1.Task{}, fmt.Errorf("--restart-backoff=%s: give a duration above zero, such as 10s", t.backoff)
	}
	p, err := stage1.ParseRestartPolicy(t.restart)
	if err != nil {
		return stage1.Task{}, fmt.Errorf("%v", err)
	}
	p.Backoff = t.backoff
	if t.ready != "started" && t.ready != "notify" {
		return stage1.Task{}, fmt.Errorf("--ready=%s: choose started or notify", t.ready)
	}
	return stage1.Task{Timeout: t.timeout, Stdin: t.stdin, Restart: p, ReadyNotify: t.ready == "notify"}, nil
}
