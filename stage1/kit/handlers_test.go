package kit

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema/types"

	"podctl/lifecycle"
	"podctl/stage1"
	"podctl/stage1/appexec"
)

func TestReadHandlers(t *testing.T) {
	pre := types.EventHandler{Name: PreStart, Exec: types.Exec{"/bin/prep", "a"}}
	post := types.EventHandler{Name: PostStop, Exec: types.Exec{"/bin/clean"}}
	other := types.EventHandler{Name: "on-reload", Exec: types.Exec{"/bin/x"}}
	s := &AppSpec{Spec: appexec.Spec{Name: "a"}}
	if err := readHandlers(s, []types.EventHandler{pre, other, post}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.PreStart, " ") != "/bin/prep a" || strings.Join(s.PostStop, " ") != "/bin/clean" {
		t.Fatalf("read %v and %v", s.PreStart, s.PostStop)
	}
	for _, bad := range [][]types.EventHandler{
		{pre, pre},
		{{Name: PostStop}},
	} {
		if err := readHandlers(&AppSpec{Spec: appexec.Spec{Name: "a"}}, bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%v: want a one-line refusal, got %v", bad, err)
		}
	}
}

func TestHandlerSpec(t *testing.T) {
	s := &AppSpec{
		Spec: appexec.Spec{
			Name:  "a",
			Exec:  []string{"/bin/app"},
			User:  "1000",
			Group: "1000",
			Env:   []string{"A=1", "NOTIFY_SOCKET=" + AppNotifySocket},
		},
		Mounts:   []MountSpec{{Source: "/v", Target: "/v"}, {Source: "/n", Target: AppNotifySocket}},
		PreStart: []string{"/bin/prep"},
	}
	if s.HandlerSpec(PostStop) != nil {
		t.Fatal("an app with no post-stop got a post-stop spec")
	}
	h := s.HandlerSpec(PreStart)
	if h == nil || h.Exec[0] != "/bin/prep" || h.User != "0" || h.Group != "0" || h.PreStart != nil {
		t.Fatalf("pre-start spec %+v", h)
	}
	if strings.Join(h.Env, " ") != "A=1" || len(h.Mounts) != 1 || h.Mounts[0].Target != "/v" {
		t.Fatalf("the handler has the app's notify socket: %v %v", h.Env, h.Mounts)
	}
	if s.User != "1000" || len(s.Env) != 2 || len(s.Mounts) != 2 {
		t.Fatalf("HandlerSpec changed the app's spec: %+v", s)
	}
}

func TestHandlerEnd(t *testing.T) {
	exited := func(code int) syscall.WaitStatus { return syscall.WaitStatus(code << 8) }
	for _, c := range []struct {
		ws       syscall.WaitStatus
		timedOut bool
		want     string
	}{
		{exited(0), false, ""},
		{exited(7), false, "exited with 7"},
		{syscall.WaitStatus(syscall.SIGKILL), false, "was killed by SIGKILL"},
		{syscall.WaitStatus(syscall.SIGKILL), true, "did not finish within 1s and was killed"},
	} {
		if got := handlerEnd(c.ws, nil, c.timedOut, time.Second); got != c.want {
			t.Errorf("%v, timed out %v: %q, want %q", c.ws, c.timedOut, got, c.want)
		}
	}
}

// The pod's result says why its first failed app did not start, whoever
// recorded the app's status (the supervisor, or systemd's exit hook).
func TestFailureMessageNotStarted(t *testing.T) {
	st := &lifecycle.AppStatus{ExitCode: stage1.ExitStartFailed, Message: "the app did not start: app a: pre-start handler exited with 7"}
	if got, want := FailureMessage("a", st), "app a did not start: app a: pre-start handler exited with 7"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	st = &lifecycle.AppStatus{ExitCode: 254, Reason: lifecycle.ReasonError}
	if got, want := FailureMessage("a", st), "app a exited with 254"; got != want {
		t.Fatalf("an app that exited 254 itself: got %q, want %q", got, want)
	}
}
