package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"podctl/internal/fsutil"
)

// AppStatus is what stage1 records when an app of the pod ends, in
// apps/<name>/exit.
type AppStatus struct {
	// ExitCode is the app's exit code, or 128+N when signal N killed it.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that killed the app, if one did.
	Signal string `json:"signal,omitempty"`
	// Reason says why the app ended when its code alone does not, such as
	// ReasonOOMKilled.
	Reason string `json:"reason,omitempty"`
	// Message says in a sentence what went wrong, when something did.
	Message string `json:"message,omitempty"`
	// StartedAt and FinishedAt bound the app's run.
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// RestartCount is how many times the app had been restarted before
	// this run (the pod's --restart policy).
	RestartCount int `json:"restart_count"`
}

// Why an app ended (AppStatus.Reason).
const (
	// ReasonCompleted: the app exited 0.
	ReasonCompleted = "Completed"
	// ReasonError: the app exited with another code, or could not start.
	ReasonError = "Error"
	// ReasonOOMKilled: the kernel killed the app for using more memory
	// than its limit.
	ReasonOOMKilled = "OOMKilled"
	// ReasonTimeout: stage1 stopped the app when the pod's --timeout was up.
	ReasonTimeout = "Timeout"
	// ReasonKilled: a signal stage1 did not send ended the app.
	ReasonKilled = "Killed"
	// ReasonCancelled: stage1 stopped the app because podctl run was told
	// to stop (SIGINT, SIGTERM, SIGHUP; podctl stop), or another app failed.
	ReasonCancelled = "Cancelled"
	// ReasonStopped: the app of a mutable pod was stopped with podctl app
	// stop (or app rm).
	ReasonStopped = "Stopped"
)

// AppExitCode returns the exit code the app ended with. It returns an
// error wrapping fs.ErrNotExist if the app has not ended (or never ran).
func (p *Pod) AppExitCode(app string) (int, error) {
	st, err := p.AppStatus(app)
	if err != nil {
		return 0, err
	}
	return st.ExitCode, nil
}

// AppStatus returns the status the app ended with, or an error wrapping
// fs.ErrNotExist if it has not ended.
func (p *Pod) AppStatus(app string) (*AppStatus, error) {
	b, err := p.ReadFile(AppStatusFile(app))
	if err != nil {
		return nil, err
	}
	var st AppStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("reading exit status of app %s of pod %s: %w", app, p.UUID, err)
	}
	return &st, nil
}

// WriteAppStatus records an app's end. It is called by the pod's stage1.
// The write is atomic but not fsynced: it only has to be whole for readers;
// after a power cut the pod is gone and so is any interest in durability
// beyond what the next journal commit gives.
func (p *Pod) WriteAppStatus(app string, st *AppStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("recording exit status of app %s: %w", app, err)
	}
	return fsutil.WriteFile(p.FilePath(AppStatusFile(app)), b, 0o600, false)
}

// AppStartTime is when the app's running main process started, from its
// pid file (fly and native flavors); zero if it is not running.
func (p *Pod) AppStartTime(app string) (time.Time, error) {
	st, err := p.statFile(AppFile(app, AppPid))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return time.Time{}, nil
		}
		return time.Time{}, err
	}
	return time.Unix(st.Mtim.Unix()), nil
}
