package tests

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An app whose service's exit hook never records its end (the pod's systemd
// kills a hook that runs past the unit's stop timeout, as it may on a
// loaded machine) still ends the pod: stage1 notices the service ended with
// no status, records the app's end as unknown and shuts the pod down,
// where the pod would otherwise run on with no app.
func TestSystemdLostExitHook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.flavor = "systemd"
	e.fetchBusybox()
	cmd := e.command("run", "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 3")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	uuid := waitRunning(t, e)
	e.must("status", "--wait-ready=30s", uuid)
	// The hook reads the app's spec before it records the app's end: a
	// FIFO there holds it until the pod's systemd kills it.
	spec := filepath.Join(e.dir, "pods", "run", uuid, "apps", "busybox", "spec.json")
	if err := os.Remove(spec); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(spec, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.enterUntil(uuid, "/bin/touch", "/tmp/go"); r.code != 0 {
		t.Fatalf("enter: %s", r)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("the pod still runs 90 s after its app ended with its exit hook stuck; stderr:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 254 {
		t.Fatalf("run ended with %v, want exit 254; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "exit hook of its service did not run to its end") {
		t.Fatalf("run did not say why it ended:\n%s", stderr.String())
	}
	st := e.status(uuid)
	if len(st.Apps) != 1 || st.Apps[0].ExitCode == nil || *st.Apps[0].ExitCode != 254 {
		t.Fatalf("status of the app whose hook was lost: %+v", st)
	}
	if out := e.must("status", "--format=json", uuid); !strings.Contains(out, "exit status is unknown") {
		t.Fatalf("status does not say the app's end is unknown: %s", out)
	}
}
