package native

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// What stage1 hands podctl-wait reads back, in the helpers it runs, as it
// was meant: the options, then the one argument podctl-wait adds.
func TestHandoverArgs(t *testing.T) {
	sample := []string{"podctl", "stage1", helperSample, "--file=/d/pods/run/u/stage1/stats", "--cgroup=/sys/fs/cgroup/unified/podctl-u", "--cgroup=/sys/fs/cgroup/pids/podctl-u", "--app=a", "--app=b"}
	end := []string{"podctl", "stage1", helperEnd, "--pod=/d/pods/run/u", "--cgroup=/sys/fs/cgroup/unified/podctl-u", "--network"}
	title := []string{"podctl", "run", "example.com/busybox"}
	args := waitArgs("/usr/bin/podctl-wait", 42, 5, 7, 1500*time.Millisecond, "idle=1:interval=2000000000", title, sample, end)
	want := slices.Concat([]string{"/usr/bin/podctl-wait", waitProtocol, "42", "5", "7", "1500", "idle=1:interval=2000000000", "3"}, title, []string{"8"}, sample, end)
	if !slices.Equal(args, want) {
		t.Fatalf("podctl-wait's arguments: %q, want %q", args, want)
	}
	h, err := parseHandoverArgs(append(slices.Clone(sample[3:]), "idle=0:interval=2000000000"))
	if err != nil || h.file != "/d/pods/run/u/stage1/stats" || len(h.cgroups) != 2 || !slices.Equal(h.apps, []string{"a", "b"}) || h.network || h.last != "idle=0:interval=2000000000" {
		t.Fatalf("the sampler's arguments: %+v, %v", h, err)
	}
	h, err = parseHandoverArgs(append(slices.Clone(end[3:]), "256"))
	if err != nil || h.pod != "/d/pods/run/u" || len(h.cgroups) != 1 || !h.network || h.last != "256" {
		t.Fatalf("the end's arguments: %+v, %v", h, err)
	}
	for _, bad := range [][]string{nil, {"--nosuch=1", "0"}, {"--app=a", "-x", "0"}} {
		if _, err := parseHandoverArgs(bad); err == nil || !strings.Contains(err.Error(), "for podctl itself") {
			t.Errorf("parseHandoverArgs(%q): %v", bad, err)
		}
	}
}

// The helpers refuse what is not theirs in one line, exit 2 or 254, and
// never take a pod for one.
func TestHandoverHelpersRefuse(t *testing.T) {
	if code := sampleMain(nil); code != 2 {
		t.Errorf("native-sample with nothing: exit %d, want 2", code)
	}
	if code := sampleMain([]string{"--app=a", "idle=0:interval=2000000000"}); code != 2 {
		t.Errorf("native-sample without --file: exit %d, want 2", code)
	}
	if code := endMain([]string{"--cgroup=/x", "0"}); code != 254 {
		t.Errorf("native-end without --pod: exit %d, want 254", code)
	}
	if code := endMain([]string{"--pod=/nonexistent/pod", "notastatus"}); code != 254 {
		t.Errorf("native-end with a bad status: exit %d, want 254", code)
	}
}
