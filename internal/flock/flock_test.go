package flock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The helper process mode: hold an exclusive lock on a file until stdin closes.
func TestMain(m *testing.M) {
	if path := os.Getenv("FLOCK_TEST_HOLD"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			os.Exit(3)
		}
		if err := Lock(f, Exclusive); err != nil {
			os.Exit(4)
		}
		os.Stdout.WriteString("locked\n")
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLOCK_TEST_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("helper did not lock: %q %v", buf, err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = TryLock(f, Shared)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock while another process holds it: got %v, want ErrLocked", err)
	}

	done := make(chan error, 1)
	go func() { done <- Lock(f, Exclusive) }()
	select {
	case err := <-done:
		t.Fatalf("Lock returned while held elsewhere: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock did not return after the holder exited")
	}
	if err := Unlock(f); err != nil {
		t.Fatal(err)
	}
}

func TestSharedLocksCoexist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Open(path)
	b, _ := os.Open(path)
	defer a.Close()
	defer b.Close()
	if err := TryLock(a, Shared); err != nil {
		t.Fatal(err)
	}
	if err := TryLock(b, Shared); err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	if err := TryLock(b, Exclusive); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive beside shared: got %v, want ErrLocked", err)
	}
}
