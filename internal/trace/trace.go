// Package trace prints when each step of starting a pod happens, for
// finding where the time goes: with PODCTL_TRACE set, every Mark is one
// line on stderr, "podctl-trace MONOTONIC_NS PID STEP". The clock is the
// same in every process, so the lines of stage0, stage1 and the pod's init
// can be sorted together. Unset, Mark costs one branch.
package trace

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

var on = os.Getenv("PODCTL_TRACE") != ""

// Mark records that step happened now.
func Mark(step string) {
	if !on {
		return
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	fmt.Fprintf(os.Stderr, "podctl-trace %d %d %s\n", ts.Nano(), os.Getpid(), step)
}
