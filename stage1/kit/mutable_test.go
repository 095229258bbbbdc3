package kit

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/appexec"
)

// ask sends an app verb to the pod's Supervisor and returns its reply.
func (p *testPod) ask(control chan<- AppRequest, op stage1.AppOp, app string) error {
	p.t.Helper()
	reply := make(chan error, 1)
	r := AppRequest{Op: op, App: app, Reply: reply}
	if op == stage1.AppAdd {
		if err := os.MkdirAll(filepath.Join(p.dir, lifecycle.AppDir(app)), 0o700); err != nil {
			p.t.Fatal(err)
		}
		r.Spec = &AppSpec{Spec: appexec.Spec{Name: app}}
	}
	select {
	case control <- r:
	case <-time.After(deadline):
		p.t.Fatalf("the supervisor took no %s of %s", op, app)
	}
	select {
	case err := <-reply:
		return err
	case <-time.After(deadline):
		p.t.Fatalf("no reply to %s of %s", op, app)
	}
	return nil
}

// A mutable pod's Supervisor stays up with no app, adds, starts, stops
// and removes apps on request, lets no app's failure end the pod, and
// ends on a stop signal.
func TestSuperviseMutable(t *testing.T) {
	p := newTestPod(t, stage1.Task{})
	control := make(chan AppRequest)
	p.sv.Mutable, p.sv.Control = true, control
	p.ignoreTerm["stubborn"] = true
	p.run()
	<-p.readies

	if err := p.ask(control, stage1.AppAdd, "one"); err != nil {
		t.Fatal(err)
	}
	if err := p.ask(control, stage1.AppAdd, "one"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("a second add of app one: %v", err)
	}
	if err := p.ask(control, stage1.AppStart, "one"); err != nil {
		t.Fatal(err)
	}
	one := p.next("one")
	if err := p.ask(control, stage1.AppStart, "one"); err == nil || !strings.Contains(err.Error(), "running already") {
		t.Fatalf("a start of running app one: %v", err)
	}
	// A failure of an app is its own.
	one.exit(3)
	p.waitDebug("app %s exited")
	if st := p.status("one"); st.ExitCode != 3 || st.Reason != lifecycle.ReasonError {
		t.Fatalf("app one's status: %+v", st)
	}
	// Started again, then stopped: SIGTERM, and SIGKILL for an app that
	// ignores it; the stop is answered once the app has ended.
	if err := p.ask(control, stage1.AppAdd, "stubborn"); err != nil {
		t.Fatal(err)
	}
	if err := p.ask(control, stage1.AppStart, "stubborn"); err != nil {
		t.Fatal(err)
	}
	stubborn := p.next("stubborn")
	if err := p.ask(control, stage1.AppStop, "stubborn"); err != nil {
		t.Fatal(err)
	}
	if sig := p.signalled(stubborn); sig != syscall.SIGTERM {
		t.Fatalf("app stop sent %v first", sig)
	}
	if sig := p.signalled(stubborn); sig != syscall.SIGKILL {
		t.Fatalf("app stop sent %v after the grace", sig)
	}
	if st := p.status("stubborn"); st.ExitCode != 137 || st.Reason != lifecycle.ReasonStopped {
		t.Fatalf("the stopped app's status: %+v", st)
	}
	if err := p.ask(control, stage1.AppRemove, "stubborn"); err != nil {
		t.Fatal(err)
	}
	if err := p.ask(control, stage1.AppStart, "stubborn"); err == nil || !strings.Contains(err.Error(), "no app") {
		t.Fatalf("a start of a removed app: %v", err)
	}
	if err := p.ask(control, stage1.AppStart, "one"); err != nil {
		t.Fatal(err)
	}
	one = p.next("one")
	p.sigs <- syscall.SIGTERM
	if sig := p.signalled(one); sig != syscall.SIGTERM {
		t.Fatalf("the pod's stop sent %v", sig)
	}
	p.wait(128 + int(syscall.SIGTERM))
}
