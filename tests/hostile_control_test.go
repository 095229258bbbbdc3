package tests

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Every way of the hostile app can report an escape: run on the host as
// root (or as nobody with the host's setuid and file-capability copies),
// where nothing confines it, each way must say ESCAPED. A way that could
// not see an escape here could not fail in a pod either. Mounts are made
// in a private mount namespace, and the target of the PID 1 ways is a
// sleeper of the test's own in a chroot and a mount namespace of its own.
func TestHostileWaysCanFail(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("/tmp", "podctl-hostile-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(hostilePath)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, mode os.FileMode, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostile := write("hostile", 0o755, bin)
	write("hostile-suid", 0o755|os.ModeSetuid, bin)
	fcapPath := write("hostile-fcap", 0o755, bin)
	fcap := make([]byte, 20)
	binary.LittleEndian.PutUint32(fcap[0:], 0x02000001)
	binary.LittleEndian.PutUint32(fcap[4:], 1<<21)
	if err := unix.Setxattr(fcapPath, "security.capability", fcap, 0); err != nil {
		t.Fatal(err)
	}
	token := randomHex(t)
	marker := write("marker", 0o644, []byte(token))

	// A chroot with busybox and the hostile app: the sleeper lives there,
	// and the chroot escape starts there.
	croot := filepath.Join(dir, "root")
	for _, d := range []string{"bin", "tmp"} {
		if err := os.MkdirAll(filepath.Join(croot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(croot, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(croot, "bin", "hostile"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("/bin/busybox", "sleep", "1000")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Chroot: croot, Unshareflags: syscall.CLONE_NEWNS, Setpgid: true}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sleeper.Process.Kill()
		sleeper.Wait()
	})

	args := []string{
		"-marker", marker, "-marker-content", token,
		"-podctl", fileID(t, filepath.Join(croot, "bin", "busybox")),
		"-devices", strings.Join(hostDevices(t), ","),
		"-pid1", strconv.Itoa(sleeper.Process.Pid),
		"-bin-dir", dir,
	}
	// enter-exe is not here: its watcher needs a pod and podctl enter.
	for _, w := range hostileWays {
		t.Run(w.name, func(t *testing.T) {
			cmd := exec.Command(hostile, append(append([]string{}, args...), w.name)...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
			switch {
			case w.user:
				cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
			case w.name == "chroot-escape":
				cmd = exec.Command("/bin/hostile", append(append([]string{}, args...), w.name)...)
				cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: croot}
			}
			out, err := cmd.Output()
			line := strings.TrimSpace(string(out))
			if !strings.HasPrefix(line, "ESCAPED "+w.name+" ") {
				t.Errorf("on the host, unconfined, %s did not see an escape: %q (%v)", w.name, line, err)
				return
			}
			t.Log(line)
		})
	}
}
