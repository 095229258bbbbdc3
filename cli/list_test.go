package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"podctl/lifecycle"
	"podctl/network"
	"podctl/stage0"
)

const testID = "sha512-8c982a66eec2714ea640f5b937a83ddb718210cafd290efbd64e5821d9047bcd"

func TestShortID(t *testing.T) {
	if got := shortID(testID, false); got != "sha512-8c982a66eec2" {
		t.Errorf("short: %s", got)
	}
	if got := shortID(testID, true); got != testID {
		t.Errorf("full: %s", got)
	}
	for _, id := range []string{"", "-", "sha512-8c98"} {
		if got := shortID(id, false); got != id {
			t.Errorf("%q shortened to %q", id, got)
		}
	}
}

func twoAppPod() *stage0.PodInfo {
	t0 := time.Now().Add(-2 * time.Minute)
	two := 2
	return &stage0.PodInfo{
		UUID: "8645ebdf-1812-448b-8211-c4b411aa529d", State: stage0.PodState{Lifecycle: lifecycle.ExitedGarbage},
		Labels: map[string]string{"ci": "yes", "tier": "web"}, CreatedAt: &t0, StartedAt: &t0,
		Result:   &lifecycle.PodResult{Result: "error"},
		Networks: []network.Attachment{{Network: "default", Interface: "eth0", Address: "10.47.0.5/16"}, {Network: "lan", Interface: "eth1", Address: "10.48.0.9/24"}},
		Apps: []stage0.AppInfo{
			{Name: "web", ImageName: "example.com/busybox", ImageID: testID},
			{Name: "check", ImageName: "example.com/tools", ImageID: testID, ExitCode: &two},
		},
	}
}

// The default table has one line per pod, whose cells up to EXIT have no
// blank in them, so awk can read them; --apps has a line per app.
func TestListRows(t *testing.T) {
	pods := []*stage0.PodInfo{twoAppPod(), {UUID: "42bb8bcd-2713-44d9-bd43-3c9525da9fdf", State: stage0.PodState{Lifecycle: lifecycle.AbortedPrepare}}}
	print := func(full, perApp bool) []string {
		var out bytes.Buffer
		cmd := &cobra.Command{}
		cmd.SetOut(&out)
		if err := printList(cmd, pods, full, perApp, true); err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	}
	lines := print(false, false)
	if len(lines) != 2 {
		t.Fatalf("want one line per pod:\n%s", strings.Join(lines, "\n"))
	}
	want := [][]string{
		{"8645ebdf", "-", "web,check", "example.com/busybox,example.com/tools", "exited-garbage", "error", "-,2", "2", "minutes", "ago", "2", "minutes", "ago", "default:10.47.0.5,lan:10.48.0.9", "ci=yes,tier=web"},
		{"42bb8bcd", "-", "-", "-", "aborted-prepare", "-", "-", "-", "-", "-", "-"},
	}
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("line %d: fields %q, want %q", i, got, want[i])
		}
	}
	lines = print(true, false)
	f := strings.Fields(lines[0])
	if len(f) != 12 || f[0] != pods[0].UUID || f[4] != testID+","+testID {
		t.Errorf("--full: fields %q", f)
	}
	for _, tm := range f[8:10] {
		if _, err := time.Parse(time.RFC3339Nano, tm); err != nil {
			t.Errorf("--full: time %q: %v", tm, err)
		}
	}
	lines = print(false, true)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "8645ebdf") || strings.TrimSpace(lines[1][:8]) != "" || !strings.Contains(lines[1], "check") {
		t.Errorf("--apps: want a line per app:\n%s", strings.Join(lines, "\n"))
	}
}
