package lifecycle

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"podctl/internal/errdefs"
	"podctl/internal/flock"
)

// pollInterval is how often waits look again at a pod that is not running
// yet (and so has no lock to wait on).
const pollInterval = 50 * time.Millisecond

// WaitFinished blocks until the pod has run and exited (or was removed, or
// will never run) and returns it as it is then. While the pod runs, the wait
// is a blocking shared lock on it, which the kernel grants the moment the
// pod's stage1 exits.
func (p *Pod) WaitFinished(ctx context.Context) (*Pod, error) {
	cur, err := p.Refresh()
	if err != nil {
		return nil, err
	}
	for {
		if cur.IsFinished() {
			return cur, nil
		}
		if cur.State() == Running {
			if err := waitUnlocked(ctx, cur); err != nil {
				cur.Close()
				return nil, err
			}
		} else {
			select {
			case <-ctx.Done():
				cur.Close()
				return nil, ctx.Err()
			case <-time.After(pollInterval):
			}
		}
		next, err := cur.Refresh()
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
}

// waitUnlocked waits for the holder of the pod's lock to let it go. A
// blocking flock cannot be interrupted, so on cancellation the waiting
// goroutine is left behind with its own descriptor until the lock frees.
func waitUnlocked(ctx context.Context, p *Pod) error {
	// A second open file description, so the lock is independent of p's.
	f, err := os.Open("/proc/self/fd/" + strconv.Itoa(p.fd))
	if err != nil {
		return fmt.Errorf("waiting for pod %s: %w", p.UUID, err)
	}
	done := make(chan error, 1)
	go func() {
		err := flock.Lock(f, flock.Shared)
		if err == nil {
			err = flock.Unlock(f)
		}
		f.Close()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitReady blocks until every app of the pod has started. It fails if the
// pod finishes without becoming ready.
func (p *Pod) WaitReady(ctx context.Context) error {
	for {
		cur, err := p.Refresh()
		if err != nil {
			return err
		}
		ready, st := cur.IsReady(), cur.State()
		cur.Close()
		if ready && st == Running {
			return nil
		}
		if st.IsFinished() {
			return errdefs.New(errdefs.ErrInvalid, "pod %s is %s and will not become ready", p.UUID, st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}
