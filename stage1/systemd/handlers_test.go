package systemd

import (
	"strings"
	"testing"

	"podctl/stage1/appexec"
	"podctl/stage1/kit"
)

// The handlers' hooks sit around the app's: pre-start before ExecStart,
// post-stop before the exit hook, which may end the pod; an app without
// handlers keeps its unit as it was.
func TestWithHandlers(t *testing.T) {
	lines := func(s *kit.AppSpec) []string {
		var out []string
		for _, o := range withHandlers(appUnit(s.Name, unitOptions{}), s) {
			if strings.HasPrefix(o.Name, "Exec") || o.Name == "TimeoutStartSec" {
				out = append(out, o.Name+"="+o.Value)
			}
		}
		return out
	}
	plain := lines(&kit.AppSpec{Spec: appexec.Spec{Name: "a"}})
	want := []string{
		"ExecStart=" + inBinary + " stage1 " + hookExec + " a",
		"ExecStopPost=" + inBinary + " stage1 " + hookExited + " a",
	}
	if strings.Join(plain, "\n") != strings.Join(want, "\n") {
		t.Fatalf("an app without handlers has:\n%s", strings.Join(plain, "\n"))
	}
	got := lines(&kit.AppSpec{Spec: appexec.Spec{Name: "a"}, PreStart: []string{"/p"}, PostStop: []string{"/q"}})
	want = []string{
		"ExecStartPre=" + inBinary + " stage1 " + hookHandler + " a pre-start",
		"TimeoutStartSec=90",
		"ExecStart=" + inBinary + " stage1 " + hookExec + " a",
		"ExecStopPost=-" + inBinary + " stage1 " + hookHandler + " a post-stop",
		"ExecStopPost=" + inBinary + " stage1 " + hookExited + " a",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
