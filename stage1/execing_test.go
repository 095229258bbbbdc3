package stage1

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A process whose first thread has ended while another lives (as in an
// execve another thread makes, and here by pthread_exit) is execing and
// Alive; a running process and an ended one are not execing.
func TestExecing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "firstgone.c")
	prog := `#include <pthread.h>
#include <unistd.h>
static void *sleeper(void *arg) { (void)arg; sleep(60); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, sleeper, 0); pthread_exit(0); }
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "firstgone")
	if out, err := exec.Command("gcc", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("building the test program (apt-get install -y gcc libc6-dev): %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(30 * time.Second); !execing(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
			t.Fatalf("a process whose first thread ended is not execing after 30 s: %s", b)
		}
	}
	if !Alive(pid) {
		t.Error("a process whose first thread ended, another alive, is not Alive")
	}
	if execing(os.Getpid()) {
		t.Error("this test's own process is execing")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if execing(pid) || Alive(pid) {
		t.Error("an ended process is execing or Alive")
	}
}
