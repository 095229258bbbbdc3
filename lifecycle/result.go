package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"podctl/internal/fsutil"
)

// Pod results (PodResult.Result).
const (
	// ResultSuccess: every app exited 0.
	ResultSuccess = "success"
	// ResultError: an app failed (or could not start).
	ResultError = "error"
	// ResultTimeout: the pod's --timeout was up and stage1 stopped it.
	ResultTimeout = "timeout"
	// ResultKilled: stage1 ended without recording a result: killed from
	// outside (podctl stop --force, SIGKILL, the OOM killer).
	ResultKilled = "killed"
	// ResultCancelled: podctl run got SIGINT, SIGTERM or SIGHUP (podctl
	// stop), and stage1 stopped the apps.
	ResultCancelled = "cancelled"
)

// PodResult is how a finished pod ended, with a one-line message.
type PodResult struct {
	Result  string `json:"result"`
	Message string `json:"message"`
	// ExitCode is podctl run's exit code, when stage1 recorded one.
	ExitCode *int `json:"exit_code,omitempty"`
}

// WriteResult records the pod's result. Atomic, not durable: like the
// apps' statuses, it only has to be whole for readers.
func (p *Pod) WriteResult(r *PodResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("recording the pod's result: %w", err)
	}
	return fsutil.WriteFile(p.FilePath(FileResult), b, 0o600, false)
}

// Result returns how a finished pod ended. A pod that finished without a
// recorded result had its stage1 killed: ResultKilled. Before the pod has
// finished, it returns nil.
func (p *Pod) Result() (*PodResult, error) {
	if !p.IsAfterRun() {
		return nil, nil
	}
	b, err := p.ReadFile(FileResult)
	if errors.Is(err, fs.ErrNotExist) {
		return &PodResult{Result: ResultKilled, Message: "stage1 ended without recording a result: it was killed"}, nil
	}
	if err != nil {
		return nil, err
	}
	var r PodResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading the result of pod %s: %w", p.UUID, err)
	}
	return &r, nil
}
